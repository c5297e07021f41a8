"""orbax checkpoints of the training state, keyed by step: one at the end of each
epoch and one when a stop signal arrives; the last few are kept.

orbax writes each checkpoint to a temporary directory and renames it when
complete, so a checkpoint half-written when a run is killed is never restored.
A file damaged later (deleted, truncated, garbled) is found by the SHA-256 of
every file of the checkpoint, written beside it (`checkpoint_digests/<step>.json`)
when it is saved and checked before it is restored; orbax itself would restore
some such damage silently and fail on other damage with pages of traceback.
"""

import hashlib
import json
import logging as std_logging
import os
import re
import sys
import threading
import warnings

import jax
import numpy as np
import orbax.checkpoint as ocp
from absl import logging

from lenet_jax.common import files
from lenet_jax.common.errors import UserError, first_line


def digest(step_dir: str) -> dict:
  """{relative path: SHA-256} of every file under `step_dir`."""
  out = {}
  for root, _, names in os.walk(step_dir):
    for name in names:
      path = os.path.join(root, name)
      h = hashlib.sha256()
      with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
          h.update(block)
      out[os.path.relpath(path, step_dir)] = h.hexdigest()
  return out


def _quiet_orphaned_reads(unraisable) -> None:
  """Drops the 'Exception ignored in <coroutine ...>' pages that orbax's abandoned
  asynchronous reads print once a damaged checkpoint failed to restore."""
  if type(unraisable.object).__name__ != "coroutine":
    sys.__unraisablehook__(unraisable)


class _Discard(list):
  def append(self, item):
    del item


class _HeldErrors:
  """Holds what orbax's writer threads print about a failing write (pages of 'Event loop
  is closed'), so that a failed save ends in its one line; after a good save, prints them."""

  def __enter__(self):
    self.held = []
    self._hooks = (sys.excepthook, sys.unraisablehook, threading.excepthook)
    sys.excepthook = lambda *exc: self.held.append(("except", exc))
    sys.unraisablehook = lambda u: self.held.append(("unraisable", u))
    threading.excepthook = lambda a: self.held.append(("thread", a))
    logging.get_absl_handler().addFilter(self)
    return self

  def filter(self, record) -> bool:
    """A logging filter: orbax's error records (each with a traceback) are held."""
    if record.levelno >= std_logging.ERROR and "lenet_jax" not in record.pathname:
      self.held.append(("log", record))
      return False
    return True

  def __exit__(self, exc_type, *rest):
    if exc_type is not None:
      # The failed write's threads may still print after this; the run ends with the
      # one error line, so their noise stays held (dropped) for the rest of the process,
      # the warnings about its abandoned coroutines too.
      self.held = _Discard()
      warnings.filterwarnings("ignore", message="coroutine .* was never awaited",
                              category=RuntimeWarning)
      return False
    sys.excepthook, sys.unraisablehook, threading.excepthook = self._hooks
    handler = logging.get_absl_handler()
    handler.removeFilter(self)
    for kind, what in self.held:  # a good save: what was held is printed after all
      {"except": lambda e: sys.excepthook(*e), "unraisable": sys.unraisablehook,
       "thread": threading.excepthook, "log": handler.handle}[kind](what)
    return False


def _os_error(error: Exception) -> str:
  """The operating system's words for a failed write, where orbax's message holds them."""
  code = re.search(r"os_error_code='?(\d+)", str(error))
  if code:
    return os.strerror(int(code.group(1)))
  return first_line(error)


def _placed_target(x):
  """What orbax restores a leaf of `like` as: an array placed as `x` is where `x` is
  committed to its devices (a mesh's sharding, a seed axis spread over devices) or names
  them; otherwise a host array (a numpy template: orbax then reads nothing of where the
  checkpoint was written), which `_placed` puts on the default device uncommitted, as a
  new run's arrays are. Committed, the arrays would change the programs a resumed run
  compiles (their arguments' placement is part of them), and none would come from the
  compilation cache a new run filled (measured: 3.3 s against 1.0 s for a resumed
  epoch; tests/training/test_train.py)."""
  if isinstance(x, jax.Array) and x.committed or (
      not isinstance(x, jax.Array) and getattr(x, "sharding", None) is not None):
    return ocp.utils.to_shape_dtype_struct(x)
  if jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):  # no host form (no state holds
    # keys today: a run's dropout keys are made again from its seed)
    return jax.ShapeDtypeStruct(x.shape, x.dtype,
                                sharding=jax.sharding.SingleDeviceSharding(jax.local_devices()[0]))
  return np.empty(x.shape, x.dtype)


def _placed(x):
  return jax.device_put(x) if isinstance(x, (np.ndarray, np.generic)) else x


class Checkpointer:

  def __init__(self, workdir: str, keep: int = 3):
    self.directory = os.path.join(os.path.abspath(workdir), "checkpoints")
    self._manager = ocp.CheckpointManager(
        self.directory,
        options=ocp.CheckpointManagerOptions(max_to_keep=keep, create=False))

  def latest_step(self):
    return self._manager.latest_step()

  def saved_before(self) -> bool:
    """Whether a checkpoint was ever saved here (its digest outlives a deleted checkpoints/)."""
    return os.path.isdir(self._digests) and any(
        name.endswith(".json") for name in os.listdir(self._digests))

  def save(self, step: int, state) -> None:
    """Saves `state` as step `step`; a failure (disk full, read-only) is one UserError.

    orbax writes into a temporary directory renamed when complete, so the
    previous checkpoint stays valid whatever happens to this one.
    """
    try:
      with _HeldErrors():
        self._manager.save(step, args=ocp.args.StandardSave(state))
        self._manager.wait_until_finished()
        self._write_digest(step)
    except Exception as e:  # orbax wraps OSError in several types
      previous = self._manager.latest_step()
      raise UserError(
          f"the checkpoint of step {step} could not be written to {self.directory} "
          f"({_os_error(e)}); the previous one "
          + (f"(step {previous}) is intact" if previous is not None and previous != step
             else "does not exist")
          + "; free disk space or choose another --workdir, then run the same command") from None

  @property
  def _digests(self) -> str:
    return os.path.join(os.path.dirname(self.directory), "checkpoint_digests")

  def _write_digest(self, step: int) -> None:
    """The digest of `step`'s files (one process: with several, each writes its own files)."""
    if jax.process_count() > 1:
      return
    os.makedirs(self._digests, exist_ok=True)
    files.write_json(os.path.join(self._digests, f"{step}.json"),
                     digest(os.path.join(self.directory, str(step))))
    kept = {str(s) for s in self._manager.all_steps()}
    for name in os.listdir(self._digests):
      if name.endswith(".json") and name[:-5] not in kept:
        os.remove(os.path.join(self._digests, name))

  def verify(self, step: int) -> None:
    """Raises ValueError naming the first file of `step` that is missing or changed since
    it was saved (checkpoints saved without a digest pass)."""
    path = os.path.join(self._digests, f"{step}.json")
    if not os.path.isfile(path):
      return
    with open(path) as f:
      expected = json.load(f)
    found = digest(os.path.join(self.directory, str(step)))
    for name, sha in sorted(expected.items()):
      if name not in found:
        raise ValueError(f"{name} is missing")
      if found[name] != sha:
        raise ValueError(f"{name} changed since it was written")

  def restore(self, step: int, like):
    """Restores the checkpoint of `step` into the structure, shapes and dtypes of `like`,
    each array where `like`'s is committed, otherwise on the default device as a new
    run's arrays are (`_placed_target`); never on the devices the checkpoint was written
    from, which may not exist here: a run trained over two GPUs, evaluated on one CPU."""
    self.verify(step)
    target = jax.tree.map(_placed_target, like)
    return jax.tree.map(_placed, self._manager.restore(step, args=ocp.args.StandardRestore(target)))

  def restore_latest(self, like, set_aside: bool = False, say=print):
    """(step, state) of the newest checkpoint that restores, or (None, `like`) when there
    is none.

    A checkpoint that does not restore (a file deleted or garbled, its metadata
    missing) is skipped with one line naming it and why, and the next older one is
    tried; with `set_aside` (training, which will write that step again) it is moved
    to `checkpoints_unreadable/` beside `checkpoints/`, never deleted. When none
    restores: one UserError.
    """
    steps = sorted(self._manager.all_steps(), reverse=True)
    if not steps:
      return None, like
    reasons = []
    for step in steps:
      try:
        return step, self.restore(step, like)
      except Exception as e:  # orbax and tensorstore raise many types for damaged files
        sys.unraisablehook = _quiet_orphaned_reads
        reason = first_line(e)
        reasons.append(f"step {step}: {reason}")
        moved = self._set_aside(step) if set_aside else None
        say(f"warning: the checkpoint of step {step} in {self.directory} cannot be restored "
            f"({reason})" + (f"; moved to {moved}" if moved else "") + "; trying an older one",
            flush=True)
    raise UserError(f"no checkpoint in {self.directory} can be restored ({'; '.join(reasons)}); "
                    "restore the files from a backup, or use a new --workdir")

  def _set_aside(self, step: int) -> str:
    aside = os.path.join(os.path.dirname(self.directory), "checkpoints_unreadable")
    os.makedirs(aside, exist_ok=True)
    target = os.path.join(aside, str(step))
    while os.path.exists(target):
      target += "_"
    os.replace(os.path.join(self.directory, str(step)), target)
    self._manager.reload()
    return target

  def close(self) -> None:
    self._manager.wait_until_finished()
    self._manager.close()

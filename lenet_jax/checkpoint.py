"""orbax checkpoints of the training state, keyed by step: one at the end of each
epoch and one when a stop signal arrives; the last few are kept.

orbax writes each checkpoint to a temporary directory and renames it when
complete, so a checkpoint half-written when a run is killed is never restored.
"""

import os

import jax
import orbax.checkpoint as ocp

from lenet_jax.errors import UserError


class Checkpointer:

  def __init__(self, workdir: str, keep: int = 3):
    self.directory = os.path.join(os.path.abspath(workdir), "checkpoints")
    self._manager = ocp.CheckpointManager(
        self.directory,
        options=ocp.CheckpointManagerOptions(max_to_keep=keep, create=True))

  def latest_step(self):
    return self._manager.latest_step()

  def save(self, step: int, state) -> None:
    """Saves `state` as step `step`; a failure (disk full, read-only) is one UserError.

    orbax writes into a temporary directory renamed when complete, so the
    previous checkpoint stays valid whatever happens to this one.
    """
    try:
      self._manager.save(step, args=ocp.args.StandardSave(state))
      self._manager.wait_until_finished()
    except Exception as e:  # orbax wraps OSError in several types
      previous = self._manager.latest_step()
      raise UserError(
          f"the checkpoint of step {step} could not be written to {self.directory} "
          f"({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}); the previous one "
          + (f"(step {previous}) is intact" if previous is not None and previous != step
             else "does not exist")
          + "; free disk space or choose another --workdir, then run the same command") from None

  def restore(self, step: int, like):
    """Restores the checkpoint of `step` into the structure, shapes and dtypes of `like`."""
    target = jax.tree.map(ocp.utils.to_shape_dtype_struct, like)
    return self._manager.restore(step, args=ocp.args.StandardRestore(target))

  def restore_latest(self, like):
    """(step, state) of the latest checkpoint, or (None, `like`) when there is none."""
    step = self.latest_step()
    return step, (like if step is None else self.restore(step, like))

  def close(self) -> None:
    self._manager.wait_until_finished()
    self._manager.close()

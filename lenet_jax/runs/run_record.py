"""What a run directory records about how it was made.

  config.json           the resolved config the run was started with, written once
  versions.json         the libraries, commit and devices it was started on
  config_history.jsonl  one line per later invocation that trained with changed
                        resumable keys (or other versions): append-only
  commands.jsonl        one line per invocation that trained: its command line, working
                        directory, host, pid, time and the step it started from

A resume may change only `RESUMABLE` keys (how long, how fast, what is logged),
never what is trained: another model, data or optimizer would either fail to
restore the checkpoint or silently mix two experiments in one run.
"""

import json
import os
import shlex
import socket
import sys
import time

import ml_collections
from flax import traverse_util

from lenet_jax.common import files
from lenet_jax.models import registry
from lenet_jax.runs import metrics, versions
from lenet_jax.common.errors import UserError

CONFIG, VERSIONS, HISTORY = "config.json", "versions.json", "config_history.jsonl"
COMMANDS = "commands.jsonl"
SWEEP = "sweep.json"  # a sweep's directory: its cells and seeds (lenet_jax.sweeps.sweep)
SEED_DIR = "seed_{}"  # a cell's seed k, under a directory of seeds trained together
# Keys a resumed run may change: they alter neither the checkpoint nor what the
# steps already taken computed.
RESUMABLE = frozenset({
    "num_epochs", "checkpoint_secs", "learning_rate", "schedule", "warmup_epochs", "piecewise_epochs",
    "piecewise_values", "eval_batch_size", "steps_per_scan", "checkpoint_keep", "debug_nans",
    "log_step_losses", "progress_secs", "data.dir", "data.test_dir", "data.tfds_data_dir", "data.workers",
    "data.read_threads", "data.device_prefetch", "eval.ten_crop"})
_RESOLVED = ("data.resolved_source", "data.resolved_location")
# What a reader of a run (evaluate, predict, figures) may not override: the network the run
# trained (its model section), what that network's input looks like and which classes it
# tells apart (the dataset: data.dir and data.test_dir choose where its test split is read).
NETWORK_SECTIONS = ("model",)
NETWORK_KEYS = frozenset({
    "data.name", "data.normalization", "data.channel_order", "data.pixel_mean", "data.resize",
    "data.channels", "data.pad_to", "data.digit_size", "data.crop", "data.synthetic_shape",
    "data.synthetic_classes"})
# Keys that runs recorded before they existed lack, with the value the code used then, for
# every model (a family's own keys: its `legacy` in the model contract).
LEGACY = {"checkpoint_secs": 0.0, "data.channel_order": "rgb", "data.pixel_mean": (),
          "model.module": "", "momentum_form": "gradient", "lr_multipliers": (),
          "weight_decay_multipliers": ()}


def _flat(config) -> dict:
  tree = config.to_dict() if isinstance(config, ml_collections.ConfigDict) else config
  flat = traverse_util.flatten_dict(json.loads(json.dumps(tree, default=str)), sep=".")
  return {k: v for k, v in flat.items() if k not in _RESOLVED}


def diff(before, after) -> dict:
  """{dotted key: (before, after)} of every key of `after` whose value differs from
  `before`'s (tuples as lists; a key `after` lacks, a section its model family no longer
  has, does not act on it and is left out)."""
  a, b = _flat(before), _flat(after)
  return {k: (a.get(k), b[k]) for k in sorted(b) if a.get(k) != b[k]}


def seed_dirs(workdir: str) -> list[str]:
  """The seed directories of seeds trained together in `workdir` (a sweep cell), in order;
  [] for a single run."""
  found = []
  while os.path.isfile(os.path.join(workdir, SEED_DIR.format(len(found)), CONFIG)):
    found.append(os.path.join(workdir, SEED_DIR.format(len(found))))
  return found


def check_kind(workdir: str, seeded: bool) -> None:
  """Refuses, before anything is written, a --workdir that a training of the other kind
  made: a sweep's directory, or (for a single run, `seeded` False) a sweep cell whose
  seeds were trained together."""
  if os.path.isfile(os.path.join(workdir, SWEEP)):
    raise UserError(f"{workdir} is a sweep's directory ({SWEEP}): its cells are trained by "
                    "lenet_jax.sweep; rerun the sweep to resume it, or use a new --workdir")
  seeds = seed_dirs(workdir)
  if seeds and not seeded:
    raise UserError(f"{workdir} is a sweep cell of {len(seeds)} seeds trained together "
                    "(lenet_jax.sweep resumes it); a single run needs a new --workdir")


def check_single_run(workdir: str) -> None:
  """A reader's check that `workdir` holds one run: a sweep cell's seeds and a sweep's
  directory are named with the run directories they hold."""
  seeds = seed_dirs(workdir)
  if seeds:
    raise UserError(f"{workdir} holds {len(seeds)} seeds trained together; name one seed's "
                    f"run directory: {seeds[0]}" + (f" ... {seeds[-1]}" if len(seeds) > 1 else ""))


def load_config(workdir: str) -> ml_collections.ConfigDict:
  """The config a run in `workdir` now has: config.json with its history's changes applied.

  How old runs keep loading, all of it here: a key the run's config lacks because it was
  recorded before the key existed gets the value the code used then (`LEGACY` for every
  model, the family's `legacy`), and the family's `upgrade` brings renamed keys and retired
  values to today's (lenet_jax/models/registry.py)."""
  path = os.path.join(workdir, CONFIG)
  if not os.path.isfile(path):
    if os.path.isfile(os.path.join(workdir, SWEEP)):
      raise UserError(f"{workdir} is a sweep's directory; name one run in it: "
                      f"{os.path.join(workdir, '<cell>', SEED_DIR.format(0))}")
    raise UserError(f"{path} not found: is --workdir a lenet_jax run directory?")
  try:
    with open(path) as f:
      resolved = json.load(f)
  except (OSError, ValueError) as e:
    raise UserError(f"{path} cannot be read ({e}); it is not a config lenet_jax wrote") from None
  flat = traverse_util.flatten_dict(resolved, sep=".")
  for entry in metrics.read_jsonl(os.path.join(workdir, HISTORY)):
    flat.update({k: new for k, (_, new) in entry.get("changed", {}).items()})
  return from_record(flat)


def from_dict(resolved: dict) -> ml_collections.ConfigDict:
  """`from_record` of a recorded config as nested dicts (config.json's form)."""
  return from_record(traverse_util.flatten_dict(resolved, sep="."))


def from_record(flat: dict) -> ml_collections.ConfigDict:
  """A recorded config (flat, dotted keys, as config.json holds it) in today's keys: the
  keys it lacks with the values used before they existed, the family's renamed keys and
  retired values brought up to date, the values the run resolved (its data's source and
  location) left out."""
  # JSON has no tuples; the configs' sequences are tuples (and only those are overridable).
  flat = {k: tuple(v) if isinstance(v, list) else v for k, v in flat.items()}
  family = registry.of(ml_collections.ConfigDict(
      {"name": flat["model.name"], "module": flat.get("model.module", "")}))
  flat.update({k: v for k, v in {**LEGACY, **family.legacy}.items() if k not in flat})
  flat = {k: v for k, v in family.upgrade(flat).items() if k not in _RESOLVED}
  return ml_collections.ConfigDict(traverse_util.unflatten_dict(flat, sep="."))


def check_resume(workdir: str, config, resumable=RESUMABLE) -> dict:
  """The changes of `config` against the run already in `workdir` ({} for a new run).

  Raises a one-line UserError naming every changed key outside `resumable`,
  with both values, before anything is written.
  """
  if not os.path.isfile(os.path.join(workdir, CONFIG)):
    return {}
  changed = diff(load_config(workdir), config)
  refused = {k: v for k, v in changed.items() if k not in resumable}
  if refused:
    what = "; ".join(f"config.{k} was {a!r}, now {b!r}" for k, (a, b) in refused.items())
    may = (f"a resume may change only {', '.join(sorted(resumable))}; " if resumable else "")
    raise UserError(f"{workdir} holds a run made with another config ({what}); {may}rerun with "
                    "the run's values or use a new --workdir")
  return changed


def reader_overrides(workdir: str, config) -> dict:
  """{dotted key: (the run's value, `config`'s)} of the overrides a reader of the run in
  `workdir` was given: those that change only how it scores or reads data (the data's
  location, batch sizes, ten patches). One UserError naming the first override that
  would make it read another network than the run trained."""
  changed = diff(load_config(workdir), config)
  for key, (before, after) in changed.items():
    if key.split(".")[0] in NETWORK_SECTIONS or key in NETWORK_KEYS:
      raise UserError(f"--config.{key}={after!r}: the run in {workdir} was trained with "
                      f"{before!r}, and a reader scores the network the run trained; drop the "
                      "override (those that change how scoring runs, e.g. config.data.dir, "
                      "config.eval_batch_size, are allowed)")
  return changed


def record_start(workdir: str, config, dataset, changed: dict, from_step: int = 0) -> None:
  """Writes config.json and versions.json for a new run; for a resumed one appends the
  changed keys and any new versions to config_history.jsonl. Either way appends the
  command line to commands.jsonl. Called when training is about to use them, so a
  refused or already finished run records nothing."""
  found = versions.collect()
  try:
    os.makedirs(workdir, exist_ok=True)
    _append(workdir, COMMANDS, command_entry(from_step))
    if not os.path.isfile(os.path.join(workdir, CONFIG)):
      resolved = config.to_dict()
      resolved["data"]["resolved_source"] = dataset.source
      resolved["data"]["resolved_location"] = dataset.location
      files.write_json(os.path.join(workdir, VERSIONS), found, indent=2)
      files.write_json(os.path.join(workdir, CONFIG), resolved, indent=2, default=str)
      return
    entry = {"time": time.strftime("%Y-%m-%dT%H:%M:%S")}
    if changed:
      entry["changed"] = {k: list(v) for k, v in changed.items()}
    before = run_versions(workdir)
    if before is not None and before != found:
      entry["versions"] = found
    if len(entry) > 1:
      _append(workdir, HISTORY, entry)
  except OSError as e:
    raise UserError(f"cannot write to --workdir={workdir} ({e.strerror}); choose a writable "
                    "directory with free space") from None


def command_entry(from_step: int) -> dict:
  """This invocation: the command line as typed (interpreter and `-m module` included),
  where and when it ran, and the step it trains from."""
  return {"time": time.strftime("%Y-%m-%dT%H:%M:%S"), "command": shlex.join(sys.orig_argv),
          "cwd": os.getcwd(), "host": socket.gethostname(), "pid": os.getpid(),
          "from_step": int(from_step)}


def _append(workdir: str, name: str, entry: dict) -> None:
  with open(os.path.join(workdir, name), "a") as f:  # append-only
    f.write(json.dumps(entry) + "\n")


def run_versions(workdir: str) -> dict | None:
  """The versions a run now runs with: versions.json, or the last history entry that changed them."""
  path = os.path.join(workdir, VERSIONS)
  if not os.path.isfile(path):
    return None
  with open(path) as f:
    found = json.load(f)
  for entry in metrics.read_jsonl(os.path.join(workdir, HISTORY)):
    found = entry.get("versions", found)
  return found

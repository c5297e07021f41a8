"""A new run started from another run's variables (`config.init_from`): every parameter (and
BatchNorm statistic) whose name and shape agree is taken (a fine-tune with a new fc8 keeps
every other layer), the rest keep the new run's initialisation; the optimizer starts
afresh."""

import os

import jax
import jax.numpy as jnp

from lenet_jax.common.errors import UserError
from lenet_jax.runs import load, run_record
from lenet_jax.weights.import_weights import name


def source_config(run_dir: str, model_name: str):
  """The config of the run in `run_dir`, refused unless it is a run of `model_name`'s
  family (cheap: a run checks it before it loads its data)."""
  if not os.path.isfile(os.path.join(run_dir, run_record.CONFIG)):
    raise UserError(f"config.init_from={run_dir!r} is not a run directory (no "
                    f"{run_record.CONFIG}); import weights or train one first")
  source = run_record.load_config(run_dir)
  if source.model.name != model_name:
    raise UserError(f"config.init_from={run_dir} is a run of {source.model.name}, this model is "
                    f"{model_name}: a run starts from a run of its own model family")
  return source


def variables_from(variables, model_name: str, run_dir: str, say=print):
  """`variables` (of a `model_name` model: its parameters, and its trained state if any)
  with those of the run in `run_dir` wherever names and shapes agree; the run must be of
  the same model family."""
  source = source_config(run_dir, model_name)
  _, other, source_task = load.load_state(source, run_dir)
  other = source_task.variables(other)
  kept, taken = [], []

  def take_from(theirs, record):
    def take(path, leaf):
      found = theirs.get(name(path))
      if found is None or found.shape != leaf.shape:
        kept.append(name(path))
        return leaf
      if record:
        taken.append(name(path))
      return jnp.asarray(found, leaf.dtype)
    return take

  out = {}
  for kind, tree in variables.items():  # "params", and "model_state" for BatchNorm's
    theirs = {name(p): leaf
              for p, leaf in jax.tree_util.tree_flatten_with_path(other.get(kind, {}))[0]}
    out[kind] = jax.tree_util.tree_map_with_path(take_from(theirs, kind == "params"), tree)
  if not taken:
    raise UserError(f"config.init_from={run_dir}: no parameter of that run has a name and shape "
                    "of this model's (another model family, or other layer sizes); start from a "
                    "run of this model, or leave config.init_from empty")
  say(f"initialised from {run_dir}" + (f"; freshly initialised (shapes differ): "
                                       f"{', '.join(sorted(kept))}" if kept else ""))
  return out

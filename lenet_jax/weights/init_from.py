"""A new run started from another run's parameters (`config.init_from`): every parameter
whose name and shape agree is taken (a fine-tune with a new fc8 keeps every other layer),
the rest keep the new run's initialisation; the optimizer starts afresh."""

import os

import jax
import jax.numpy as jnp

from lenet_jax.common.errors import UserError
from lenet_jax.runs import load, run_record
from lenet_jax.weights.import_weights import name


def parameters_from(params, model_name: str, run_dir: str, say=print):
  """`params` (of a `model_name` model) with the parameters of the run in `run_dir` wherever
  names and shapes agree; the run must be of the same model family."""
  if not os.path.isfile(os.path.join(run_dir, run_record.CONFIG)):
    raise UserError(f"config.init_from={run_dir!r} is not a run directory (no "
                    f"{run_record.CONFIG}); import weights or train one first")
  source = run_record.load_config(run_dir)
  if source.model.name != model_name:
    raise UserError(f"config.init_from={run_dir} is a run of {source.model.name}, this model is "
                    f"{model_name}: a run starts from a run of its own model family")
  _, other, _ = load.load_state(source, run_dir)
  theirs = {name(p): leaf for p, leaf in jax.tree_util.tree_flatten_with_path(other["params"])[0]}
  kept, taken = [], []

  def take(path, leaf):
    source = theirs.get(name(path))
    if source is None or source.shape != leaf.shape:
      kept.append(name(path))
      return leaf
    taken.append(name(path))
    return jnp.asarray(source, leaf.dtype)

  params = jax.tree_util.tree_map_with_path(take, params)
  if not taken:
    raise UserError(f"config.init_from={run_dir}: no parameter of that run has a name and shape "
                    "of this model's (another model family, or other layer sizes); start from a "
                    "run of this model, or leave config.init_from empty")
  say(f"initialised from {run_dir}" + (f"; freshly initialised (shapes differ): "
                                       f"{', '.join(sorted(kept))}" if kept else ""))
  return params

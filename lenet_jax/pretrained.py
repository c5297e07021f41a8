"""Runs made from weights trained elsewhere, and runs started from another run's weights.

- `import_bvlc(config, path, workdir)`: Caffe's bvlc_alexnet.npy as a run directory
  (config.json, versions.json, an orbax checkpoint at step 0) that evaluate, predict
  and main (fine-tuning, resume) take like any run. The config gets Caffe's layer and
  input conventions: LRN across the groups with k=1 (`model.lrn='caffe'`), BGR
  channels, 0-255 values less Caffe's ImageNet mean (B, G, R) = (104, 117, 123).
- `initialize_from(task, tx, state, run_dir)`: a new run's parameters taken from
  another run wherever the shapes agree (a fine-tune with a new fc8 keeps every other
  layer), the optimizer state started afresh.
"""

import os

import jax
import jax.numpy as jnp
from absl import logging

from lenet_jax import checkpoint, data, optimizers, run_record, steps, validation
from lenet_jax import task as task_lib
from lenet_jax.errors import UserError
from lenet_jax.models import bvlc

CAFFE_MEAN_BGR = (104.0, 117.0, 123.0)


def caffe_conventions(config):
  """`config` set to bvlc_alexnet's network and input conventions (changed in place)."""
  config.model.lrn = "caffe"
  config.model.towers = 2
  config.model.width = 1.0
  config.model.pooling = "overlapping"
  config.model.activation = "relu"
  config.model.dropout_placement = "paper"
  config.data.channel_order = "bgr"
  config.data.normalization = "subtract_mean"
  config.data.pixel_mean = CAFFE_MEAN_BGR
  config.data.shorter_side = 256
  config.data.crop = 227
  return config


def import_bvlc(config, path: str, workdir: str) -> dict:
  """Writes the run directory `workdir` holding bvlc_alexnet.npy's weights; returns
  {'classes', 'sha256', 'params'}."""
  if os.path.exists(os.path.join(workdir, run_record.CONFIG)):
    raise UserError(f"--workdir={workdir} already holds a run; choose a new directory")
  weights = bvlc.load(path)
  config = caffe_conventions(config)
  spec = validation.validate(config)
  classes = weights["fc8"][0].shape[1]
  if classes != spec.num_classes:
    raise UserError(f"{path}: layer fc8 has {classes} outputs, the config's dataset "
                    f"{spec.name} has {spec.num_classes} classes; choose a dataset with "
                    f"{classes} (--config=configs/alexnet.py:data=imagenet2012)")
  digest = bvlc.sha256(path)
  with config.unlocked():
    config.imported_from = {"format": "bvlc_npy", "file": os.path.abspath(path),
                            "sha256": digest}
  task = task_lib.Task(config, spec)
  params = _with_arrays(task.params, bvlc.to_params(weights, config.model.towers))
  state = task_lib.init_state(task, optimizers.create(config, 1), params)
  ckpt = checkpoint.Checkpointer(workdir, config.checkpoint_keep)
  try:
    ckpt.save(0, {"train": state, "partial": steps.zero_sums()})
  finally:
    ckpt.close()
  run_record.record_start(workdir, config, data.Dataset(spec=spec, source="imported",
                                                        location=os.path.abspath(path),
                                                        splits={}), {})
  return {"classes": classes, "sha256": digest, "params": params}


def _with_arrays(params, arrays: dict):
  """`params` (an nnx.State of the model) with each layer's kernel and bias from `arrays`,
  which must have the model's shapes."""
  def take(path, leaf):
    layer, kind = _name(path).split(".")  # e.g. conv1, kernel
    new = arrays[layer][kind]
    if new.shape != leaf.shape:
      raise UserError(f"layer {layer} {kind}: the file gives shape {new.shape}, the model has "
                      f"{leaf.shape}")
    return jnp.asarray(new, leaf.dtype)
  return jax.tree_util.tree_map_with_path(take, params)


def _name(path) -> str:
  """'fc8.kernel' for a parameter's tree path."""
  parts = [str(getattr(k, "key", getattr(k, "name", k))) for k in path]
  return ".".join(p for p in parts if p != "value")


def initialize_from(task, tx, state, run_dir: str, say=print):
  """`state` with the parameters of the run in `run_dir` wherever their shapes agree
  (others keep this run's initialisation) and a fresh optimizer state."""
  if not os.path.isfile(os.path.join(run_dir, run_record.CONFIG)):
    raise UserError(f"config.init_from={run_dir!r} is not a run directory (no "
                    f"{run_record.CONFIG}); import weights or train one first")
  from lenet_jax import train
  other_config = run_record.load_config(run_dir)
  _, other, _ = train.load_state(other_config, run_dir)
  theirs = {_name(p): leaf for p, leaf in jax.tree_util.tree_flatten_with_path(other["params"])[0]}
  kept = []

  def take(path, leaf):
    name = _name(path)
    source = theirs.get(name)
    if source is None or source.shape != leaf.shape:
      kept.append(name)
      return leaf
    return jnp.asarray(source, leaf.dtype)

  params = jax.tree_util.tree_map_with_path(take, state["params"])
  if len(kept) == len(theirs) or not theirs:
    raise UserError(f"config.init_from={run_dir}: no parameter of that run fits this model")
  say(f"initialised from {run_dir}" + (f"; freshly initialised (shapes differ): "
                                       f"{', '.join(sorted(kept))}" if kept else ""))
  logging.info("init_from %s: kept this run's %s", run_dir, kept)
  return task_lib.init_state(task, tx, params)

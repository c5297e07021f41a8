"""Runs made from weights trained elsewhere (`python -m lenet_jax.import_weights`).

`import_bvlc(config, path, workdir)`: Caffe's bvlc_alexnet.npy as a run directory
(config.json, versions.json, an orbax checkpoint at step 0) that evaluate, predict and
main (fine-tuning, resume) take like any run. The config gets Caffe's layer and input
conventions: LRN across the groups with k=1 (`model.lrn='caffe'`), BGR channels, 0-255
values less Caffe's ImageNet mean (B, G, R) = (104, 117, 123).
"""

import os

import jax
import jax.numpy as jnp

from lenet_jax import data
from lenet_jax.common.errors import UserError
from lenet_jax.runs import validation
from lenet_jax.models import task as task_lib
from lenet_jax.optim import optimizers
from lenet_jax.common import lock
from lenet_jax.runs import checkpoint, load, run_record
from lenet_jax.weights import bvlc

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
  with lock.hold(workdir, "lenet_jax.import_weights"):
    return _import_bvlc(config, path, workdir)


def _import_bvlc(config, path: str, workdir: str) -> dict:
  if os.path.exists(os.path.join(workdir, run_record.CONFIG)):
    raise UserError(f"--workdir={workdir} already holds a run; choose a new directory")
  weights = bvlc.load(path)
  config = caffe_conventions(config)
  resolved = validation.validate(config)
  spec = resolved.spec
  classes = weights["fc8"][0].shape[1]
  if classes != spec.num_classes:
    raise UserError(f"{path}: layer fc8 has {classes} outputs, the config's dataset "
                    f"{spec.name} has {spec.num_classes} classes; choose a dataset with "
                    f"{classes} (--config=configs/alexnet.py:data=imagenet2012)")
  digest = bvlc.sha256(path)
  with config.unlocked():
    config.imported_from = {"format": "bvlc_npy", "file": os.path.abspath(path),
                            "sha256": digest}
  task = task_lib.Task(config, resolved, draw_params=False)
  params = _with_arrays(task.params, bvlc.to_params(weights, config.model.towers))
  tx = optimizers.create(config, 1)
  like = load.checkpoint_like(task, tx)
  ckpt = checkpoint.Checkpointer(workdir, config.checkpoint_keep)
  try:
    ckpt.save(0, dict(like, train=task_lib.init_state(task, tx, {"params": params})))
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
    layer, kind = name(path).split(".")  # e.g. conv1, kernel
    new = arrays[layer][kind]
    if new.shape != leaf.shape:
      raise UserError(f"layer {layer} {kind}: the file gives shape {new.shape}, the model has "
                      f"{leaf.shape}")
    return jnp.asarray(new, leaf.dtype)
  return jax.tree_util.tree_map_with_path(take, params)


def name(path) -> str:
  """'fc8.kernel' for a parameter's tree path."""
  parts = [str(getattr(k, "key", getattr(k, "name", k))) for k in path]
  return ".".join(p for p in parts if p != "value")

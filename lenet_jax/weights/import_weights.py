"""Runs made from weights trained elsewhere (`python -m lenet_jax.import_weights`).

`import_file(fmt, config, path, workdir)` writes the run directory `workdir` (config.json
naming the file and its SHA-256, versions.json, an orbax checkpoint at step 0) that
evaluate, predict and main (fine-tuning, resume) take like any run, from a file in one of
`IMPORTERS`' formats:

- 'bvlc_npy': Caffe's bvlc_alexnet.npy (lenet_jax.weights.bvlc). The config gets Caffe's
  layer and input conventions: LRN across the groups with k=1 (`model.lrn='caffe'`), BGR
  channels, 0-255 values less Caffe's ImageNet mean (B, G, R) = (104, 117, 123).
- 'safetensors' and 'torch': an AlexNet state_dict in PyTorch's layout
  (lenet_jax.weights.pytorch_layout) as a safetensors file or a `.pth`: torchvision's
  alexnet, or a lenet_jax export. The network is the config's; `command_config` gives the
  default: the config lenet_jax's export wrote beside the file (`config_path`), which names
  the network exactly, else torchvision's (configs/alexnet_torchvision.py).
"""

import functools
import hashlib
import json
import os

import jax
import jax.numpy as jnp
import numpy as np
from flax import traverse_util

from lenet_jax import data
from lenet_jax.common import lock, trees
from lenet_jax.common.errors import UserError
from lenet_jax.config import loading
from lenet_jax.models import task as task_lib
from lenet_jax.optim import optimizers
from lenet_jax.runs import checkpoint, load, run_record, validation
from lenet_jax.weights import bvlc, pytorch_layout, safetensors_file, torch_file

# The network a PyTorch-layout file is read into when nothing names another.
TORCHVISION_CONFIG = "configs/alexnet_torchvision.py"
# PyTorch-layout files, by --format: modules with load(path, flag), encode(tensors) and
# require(what) (lenet_jax/weights/safetensors_file.py, torch_file.py).
PYTORCH_FILES = {"safetensors": safetensors_file, "torch": torch_file}


def config_path(path: str) -> str:
  """Where lenet_jax's export writes the config of the weights file `path`, beside it."""
  return path + ".json"


def import_file(fmt: str, config, path: str, workdir: str) -> dict:
  """Writes the run directory `workdir` holding the weights of the `fmt` file `path`, for
  `config`'s network; returns {'classes', 'sha256', 'params'}."""
  with lock.hold(workdir, "lenet_jax.import_weights"):
    if os.path.exists(os.path.join(workdir, run_record.CONFIG)):
      raise UserError(f"--workdir={workdir} already holds a run; choose a new directory")
    return IMPORTERS[fmt](config, path, workdir)


def import_bvlc(config, path: str, workdir: str) -> dict:
  """Writes the run directory `workdir` holding bvlc_alexnet.npy's weights; returns
  {'classes', 'sha256', 'params'}."""
  return import_file("bvlc_npy", config, path, workdir)


def _import_bvlc(config, path: str, workdir: str) -> dict:
  weights = bvlc.load(path)
  config = bvlc.caffe_conventions(config)
  resolved = validation.validate(config)
  classes = weights["fc8"][0].shape[1]
  _check_classes(path, classes, resolved.spec, "--config=configs/alexnet.py:data=imagenet2012")
  task = task_lib.Task(config, resolved, draw_params=False)
  params = _with_arrays(task.params, bvlc.to_params(weights, config.model.towers))
  digest = _write_file_run(config, resolved, task, {"params": params}, workdir, "bvlc_npy",
                           path)
  return {"classes": classes, "sha256": digest, "params": params}


def _import_pytorch(fmt: str, config, path: str, workdir: str) -> dict:
  tensors = PYTORCH_FILES[fmt].load(path)
  if config.model.name != pytorch_layout.FAMILY:
    raise UserError(f"--format={fmt} reads AlexNet's layers in PyTorch's layout; the config's "
                    f"model is {config.model.name} (--config=configs/alexnet_torchvision.py "
                    "for torchvision's)")
  resolved = validation.validate(config)
  classes = pytorch_layout.classes(tensors)
  if classes is not None:
    _check_classes(path, classes, resolved.spec)
  task = task_lib.Task(config, resolved, draw_params=False)
  like = task.variables()  # shapes only
  arrays = pytorch_layout.variables_from(tensors, flat(like), resolved.spec.num_classes,
                                         f"--file={path}")
  factors = pytorch_layout.dropout_factors(config.model)  # PyTorch's dropout, back to ours
  arrays = {k: v / np.asarray(factors[k], v.dtype) if k in factors else v
            for k, v in arrays.items()}
  variables = {kind: jax.tree_util.tree_map_with_path(
      lambda p, leaf: jnp.asarray(arrays[name(p)], leaf.dtype), tree)
      for kind, tree in like.items()}
  digest = _write_file_run(config, resolved, task, variables, workdir, fmt, path)
  return {"classes": resolved.spec.num_classes, "sha256": digest,
          "params": variables["params"]}


IMPORTERS = {"bvlc_npy": _import_bvlc,
             **{fmt: functools.partial(_import_pytorch, fmt) for fmt in PYTORCH_FILES}}


def _check_classes(path: str, classes: int, spec, choose: str = "") -> None:
  if classes != spec.num_classes:
    raise UserError(f"{path}: layer fc8 has {classes} outputs, the config's dataset "
                    f"{spec.name} has {spec.num_classes} classes; choose a dataset with "
                    f"{classes}" + (f" ({choose})" if choose else " (--config.data.name)"))


def write_run(config, resolved, task, variables: dict, workdir: str,
              imported_from: dict) -> None:
  """Writes the run directory `workdir` holding `variables` (the task's model's: 'params',
  and 'model_state' for a model with such state) at step 0, with a fresh optimizer; its
  config records `imported_from` (what the variables came from). The caller holds
  `workdir`'s lock (`import_file` does)."""
  with config.unlocked():
    config.imported_from = imported_from
  tx = optimizers.create(config, 1)
  like = load.checkpoint_like(task, tx)
  ckpt = checkpoint.Checkpointer(workdir, config.checkpoint_keep)
  try:
    ckpt.save(0, dict(like, train=task_lib.init_state(task, tx, variables)))
  finally:
    ckpt.close()
  run_record.record_start(workdir, config, data.Dataset(
      spec=resolved.spec, source="imported", location=imported_from.get("file", ""),
      splits={}), {})


def _write_file_run(config, resolved, task, variables: dict, workdir: str, fmt: str,
                    path: str) -> str:
  """`write_run` of the variables read from the `fmt` file `path`; returns its SHA-256."""
  with open(path, "rb") as f:
    digest = hashlib.file_digest(f, "sha256").hexdigest()
  write_run(config, resolved, task, variables, workdir,
            {"format": fmt, "file": os.path.abspath(path), "sha256": digest})
  return digest


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


name = trees.path_name  # 'fc8.kernel' for a parameter's tree path


def flat(variables: dict) -> dict:
  """{'conv1.kernel': leaf, ..., 'bn1.mean': leaf} of a model's variables ({'params', and
  'model_state' for a model that has such state}); the kinds' names are disjoint."""
  return {name(p): leaf for tree in variables.values()
          for p, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]}


def exported_config(path: str):
  """The config lenet_jax's export wrote beside the weights file `path` (a ConfigDict, in
  today's keys as `run_record.load_config` reads a run's), or None when there is none. It
  must name an AlexNet of this package: a config is data, and a `model.module` would
  import code."""
  where = config_path(path)
  if not os.path.isfile(where):
    return None
  try:
    with open(where) as f:
      resolved = json.load(f)
    flat_config = traverse_util.flatten_dict(resolved, sep=".")
  except (OSError, ValueError, AttributeError) as e:
    raise UserError(f"{where} cannot be read as the config of {path} ({e}); pass --config= "
                    "to name the network") from None
  if flat_config.get("model.name") != pytorch_layout.FAMILY or flat_config.get("model.module"):
    raise UserError(f"{where} names a model other than this package's AlexNet "
                    f"(model.name={flat_config.get('model.name')!r}, model.module="
                    f"{flat_config.get('model.module', '')!r}); pass --config= to name the "
                    "network")
  return run_record.from_record(flat_config)


def command_config(fmt: str, path: str, config, argv: list):
  """The config the command imports `path` with: `config` (the command's `--config`) where
  the command line names one or the format is Caffe's; else the config the export wrote
  beside the file, or torchvision's network, each with the command line's `--config.KEY`
  overrides."""
  if fmt == "bvlc_npy" or any(a == "--config" or a.startswith("--config=") for a in argv[1:]):
    return config
  base = exported_config(path) or loading.get_config(TORCHVISION_CONFIG)
  return _with_overrides(base, argv)


def _with_overrides(config, argv: list):
  """`config` with the `--config.KEY=VALUE` overrides in `argv`, parsed as absl parses the
  command's own (in flags of their own, not the command's)."""
  from absl import flags
  from ml_collections import config_flags
  values = flags.FlagValues()
  try:
    config_flags.DEFINE_config_dict("config", config, flag_values=values, lock_config=False,
                                    sys_argv=list(argv))
    values(list(argv), known_only=True)
  except (flags.Error, AttributeError, TypeError, ValueError) as e:
    raise UserError(f"a --config override does not fit the network's config "
                    f"({str(e).strip().splitlines()[0]})") from None
  return values.config

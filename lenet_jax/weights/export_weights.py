"""A run's weights as a PyTorch state_dict file (`python -m lenet_jax.export_weights`).

`export_run(config, workdir, fmt, out)` writes the variables of the run's newest
checkpoint to `out` in PyTorch's layout (lenet_jax.weights.pytorch_layout: torchvision's
keys for a one-tower network without normalisation layers, `conv1` ... `fc8` for the rest,
Caffe's two towers as groups=2 convolutions; a network that halves dropped layers at test
has that factor in the kernels that read them, PyTorch's dropout being the identity at
test), as a safetensors file or torch.save's `.pth`,
and the run's config as JSON beside it (`import_weights.config_path`: FILE.json), from
which `lenet_jax.import_weights` reads the file back into the same network.

Each file is written whole or not at all, the weights first; if the config cannot be
written the weights file is removed, so a weights file never stands beside another
network's config. A stop signal while the run is read and converted ends the command at
once with nothing written; one during the writes (a second or two) lets them finish.
"""

import json
import os

import numpy as np

from lenet_jax.common import files, preemption
from lenet_jax.common.errors import UserError
from lenet_jax.runs import load
from lenet_jax.weights import import_weights, pytorch_layout


def export_run(config, workdir: str, fmt: str, out: str) -> dict:
  """Writes the run in `workdir` (its config `config`) to `out` as `fmt` ('safetensors' or
  'torch') and its config to `import_weights.config_path(out)`; returns {'step', 'keys',
  'tensors', 'config'}."""
  module = import_weights.PYTORCH_FILES[fmt]
  if config.model.name != pytorch_layout.FAMILY:
    raise UserError(f"--workdir={workdir} is a run of {config.model.name}; export_weights "
                    "writes AlexNet runs (PyTorch's layout of AlexNet's layers)")
  module.require(f"--format={fmt}: writing .pth files")
  files.writable_file(out, "--out")
  with preemption.StopSignals() as stop:
    step, tensors, encoded = stop.wait_for(lambda: _read(config, workdir, module),
                                           "while the run was read; nothing was written")
  torchvision = "features.0.weight" in tensors
  exported = dict(config.to_dict(), exported_from={
      "workdir": os.path.abspath(workdir), "step": int(step), "format": fmt,
      "keys": "torchvision" if torchvision else "lenet_jax"})
  _write_pair(out, encoded, json.dumps(exported, indent=2, default=str) + "\n")
  return {"step": int(step), "keys": "torchvision's" if torchvision else "conv1..fc8",
          "tensors": len(tensors), "config": import_weights.config_path(out)}


def _read(config, workdir: str, module):
  """(step, {key: array} in PyTorch's layout, the file's bytes) of the run's newest
  checkpoint."""
  step, state, task = load.load_state(config, workdir)
  factors = pytorch_layout.dropout_factors(config.model)
  variables = {k: np.asarray(v) * np.asarray(factors[k], v.dtype) if k in factors
               else np.asarray(v)
               for k, v in import_weights.flat(task.variables(state)).items()}
  tensors = pytorch_layout.state_dict(variables, task.spec.num_classes)
  return step, tensors, module.encode(tensors)


def _write_pair(out: str, encoded: bytes, config_text: str) -> None:
  config_file = import_weights.config_path(out)
  try:
    files.write_atomic(out, encoded)
    try:
      files.write_atomic(config_file, config_text)
    except BaseException:
      os.remove(out)
      raise
  except OSError as e:
    raise UserError(f"cannot write --out={out} or {config_file} ({e.strerror or e}); choose a "
                    "writable place with free space") from None

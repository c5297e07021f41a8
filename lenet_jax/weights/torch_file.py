"""PyTorch's own files (`torch.save` of a state_dict, `.pth`), where torch is installed
(an optional extra: pip install 'lenet_jax[torch]').

A `.pth` is a zip of pickles, and a pickle can run any code when it is read: `load` reads
through `torch.load(weights_only=True)` (lenet_jax/weights/untrusted.py), which refuses
anything but tensors, dicts, lists and plain values before it is called. `encode` makes
a file's bytes with `torch.save`; `save` writes them whole or not at all.
"""

import io

import numpy as np

from lenet_jax.common import files
from lenet_jax.common.errors import UserError
from lenet_jax.weights import untrusted


def load(path: str, flag: str = "--file") -> dict:
  """{key: numpy array} of the state_dict in the `.pth` file `path` (bfloat16 widened
  exactly to float32); one UserError naming it for anything else."""
  saved = untrusted.load_torch(path, flag)
  torch = untrusted.import_torch(f"{flag}={path}: reading .pth files")
  if not isinstance(saved, dict) or not all(
      isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in saved.items()):
    raise UserError(f"{flag}={path} holds a {type(saved).__name__} that is not a state_dict "
                    "(a dict of names to tensors); save model.state_dict()")
  return {k: (v.float() if v.dtype == torch.bfloat16 else v).detach().cpu().numpy()
          for k, v in saved.items()}


def require(what: str) -> None:
  """One UserError saying that `what` needs PyTorch when it is not installed."""
  untrusted.import_torch(what)


def encode(tensors: dict) -> bytes:
  """{key: array} as the bytes torch.save writes for a state_dict of CPU tensors."""
  torch = untrusted.import_torch("writing .pth files")
  buffer = io.BytesIO()
  torch.save({k: torch.from_numpy(np.array(v)) for k, v in tensors.items()}, buffer)
  return buffer.getvalue()


def save(path: str, tensors: dict) -> None:
  """Writes {key: array} to `path` with torch.save, whole or not at all."""
  files.write_atomic(path, encode(tensors))

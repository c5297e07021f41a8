"""safetensors files (huggingface/safetensors): the format model hubs share weights in.

A file is a JSON header (each tensor's name, dtype, shape and byte range) followed by the
raw bytes: reading one runs no code, whoever made it. `load` gives {key: numpy array}
(bfloat16 tensors, which numpy lacks, widened exactly to float32); `encode` makes a file's
bytes, with the header's metadata {'format': 'pt'} that PyTorch loaders (transformers,
timm) look for, and `save` writes them whole or not at all.
"""

import numpy as np
import safetensors
import safetensors.numpy

from lenet_jax.common import files
from lenet_jax.common.errors import UserError, first_line

DTYPES = {"F64": np.float64, "F32": np.float32, "F16": np.float16, "I64": np.int64,
          "I32": np.int32, "I16": np.int16, "I8": np.int8, "U8": np.uint8, "BOOL": np.bool_}


def _array(name: str, view: dict, where: str):
  shape = view["shape"]
  if view["dtype"] == "BF16":  # the upper half of a float32: exact
    bits = np.frombuffer(view["data"], np.uint16).astype(np.uint32) << 16
    return bits.view(np.float32).reshape(shape)
  if view["dtype"] not in DTYPES:
    raise UserError(f"{where}: tensor {name} has dtype {view['dtype']}, which is not a "
                    "number lenet_jax reads (float64, float32, float16, bfloat16, integers)")
  return np.frombuffer(view["data"], DTYPES[view["dtype"]]).reshape(shape)


def load(path: str, flag: str = "--file") -> dict:
  """{key: array} of the safetensors file `path`; one UserError naming it when it cannot
  be read or is not a safetensors file."""
  where = f"{flag}={path}"
  try:
    with open(path, "rb") as f:
      data = f.read()
  except FileNotFoundError:
    raise UserError(f"{where}: no such file") from None
  except OSError as e:
    raise UserError(f"{where} cannot be read ({e.strerror})") from None
  try:
    views = safetensors.deserialize(data)
  except Exception as e:  # a bad header, a truncated file: SafetensorError
    raise UserError(f"{where} is not a safetensors file ({first_line(e)})") from None
  return {name: _array(name, view, where) for name, view in views}


def require(what: str) -> None:
  """Nothing to check: safetensors is a dependency of lenet_jax (torch_file's is not)."""
  del what


def encode(tensors: dict) -> bytes:
  """{key: array} as the bytes of a safetensors file."""
  return safetensors.numpy.save({k: np.ascontiguousarray(v) for k, v in tensors.items()},
                                metadata={"format": "pt"})


def save(path: str, tensors: dict) -> None:
  """Writes {key: array} to `path` as a safetensors file, whole or not at all."""
  files.write_atomic(path, encode(tensors))

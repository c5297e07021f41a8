"""Reading weights files that came from elsewhere without running any code they hold.

A pickle can name any importable function and have the reader call it (`os.system`
included), and weights passed around on mirrors are pickles more often than not
(bvlc_alexnet.npy is a pickled dict; a PyTorch `.pth` is a zip of pickles). Every reader
of a pickle-based format goes through here:

- `load_npy(path)`: an `.npy` file; an object array's pickle is unpickled with an
  allow-list of what a weights file needs (dicts, lists, tuples, strings, numbers, numpy
  arrays, dtypes and scalars), and anything else is refused in one line before it is
  called;
- `load_torch(path)`: a `.pth` file through `torch.load(weights_only=True)`, PyTorch's own
  allow-list (tensors, dicts, lists, primitive types).
"""

import importlib
import pickle

import numpy as np

from lenet_jax.common.errors import UserError, first_line

# (module, name) a weights pickle may name; numpy's arrays and dtypes are rebuilt through
# these. numpy 1.x wrote `numpy.core`, numpy 2 writes `numpy._core`.
ALLOWED = frozenset({
    ("numpy._core.multiarray", "_reconstruct"), ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "scalar"), ("numpy.core.multiarray", "scalar"),
    ("numpy", "ndarray"), ("numpy", "dtype"),
    ("_codecs", "encode"),  # bytes written by Python 3 at protocol 2
    ("collections", "OrderedDict"),
    ("builtins", "dict"), ("builtins", "list"), ("builtins", "tuple"), ("builtins", "set"),
    ("__builtin__", "dict"), ("__builtin__", "list"), ("__builtin__", "tuple"),
})
_MOVED = {"numpy.core.multiarray": "numpy._core.multiarray", "__builtin__": "builtins"}


class Refused(pickle.UnpicklingError):
  """A pickle named something outside the allow-list."""


class _AllowListUnpickler(pickle.Unpickler):

  def find_class(self, module, name):
    if (module, name) not in ALLOWED:
      raise Refused(f"{module}.{name}")
    return getattr(importlib.import_module(_MOVED.get(module, module)), name)


def load_npy(path: str, flag: str = "--file"):
  """The array in the `.npy` file `path` (an object array's pickle unpickled with the
  allow-list); one UserError naming `path` for a refused or unreadable file."""
  try:
    with open(path, "rb") as f:
      version = np.lib.format.read_magic(f)
      _, _, dtype = (np.lib.format.read_array_header_1_0(f) if version == (1, 0)
                     else np.lib.format.read_array_header_2_0(f))
      if not dtype.hasobject:
        f.seek(0)
        return np.load(f, allow_pickle=False)
      array = _AllowListUnpickler(f, encoding="latin1").load()
  except FileNotFoundError:
    raise UserError(f"{flag}={path}: no such file") from None
  except Refused as e:
    raise UserError(f"{flag}={path} asks to run {e} when it is read, which a weights file never "
                    "needs; it was refused and nothing in it ran (a file from an untrusted "
                    "source may be malicious)") from None
  except Exception as e:  # not an .npy, truncated, a pickle numpy cannot rebuild
    raise UserError(f"{flag}={path} is not a readable .npy file ({first_line(e)})") from None
  if not isinstance(array, np.ndarray):
    raise UserError(f"{flag}={path} holds a pickled {type(array).__name__}, not an .npy array")
  return array


def import_torch(what: str):
  """The torch module; one UserError saying that `what` ('--file=x.pth: reading .pth
  files') needs PyTorch, an optional extra, when it is not installed."""
  try:
    import torch
  except ImportError:
    raise UserError(f"{what} needs PyTorch, which is not installed (pip install "
                    "'lenet_jax[torch]', or use --format=safetensors)") from None
  return torch


def load_torch(path: str, flag: str = "--file"):
  """The object saved in a PyTorch `.pth` file, read with `torch.load(weights_only=True)`
  (tensors, dicts, lists and primitive types only: no code runs). Needs torch, an optional
  extra: `pip install 'lenet_jax[torch]'` (CPU builds do)."""
  torch = import_torch(f"{flag}={path}: reading .pth files")
  try:
    return torch.load(path, map_location="cpu", weights_only=True)
  except FileNotFoundError:
    raise UserError(f"{flag}={path}: no such file") from None
  except pickle.UnpicklingError as e:
    raise UserError(f"{flag}={path} holds more than tensors and plain values, which PyTorch's "
                    f"weights-only reader refused ({first_line(e, 200)}); nothing in it "
                    "ran") from None
  except Exception as e:  # not a torch file, truncated
    raise UserError(f"{flag}={path} is not a readable PyTorch file ({first_line(e)})") from None

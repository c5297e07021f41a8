"""Reader for the IDX format that MNIST, Fashion-MNIST and KMNIST are distributed in.

http://yann.lecun.com/exdb/mnist/: a big-endian header (two zero bytes, a type
code, the number of dimensions, then each dimension as uint32) and the raw data.
"""

import gzip
import os
import zlib

import numpy as np

from lenet_jax.common import files
from lenet_jax.common.errors import UserError

FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
_UBYTE = 0x08


class CorruptFileError(UserError):
  pass


def find(directory: str, stem: str) -> str | None:
  """The path of `stem` or `stem.gz` in `directory`, or None."""
  for name in (stem, stem + ".gz"):
    path = os.path.join(directory, name)
    if os.path.isfile(path):
      return path
  return None


def read(path: str, ndim: int) -> np.ndarray:
  """Reads an unsigned-byte IDX file of `ndim` dimensions, validating its header."""
  opener = gzip.open if path.endswith(".gz") else open
  try:
    with opener(path, "rb") as f:
      data = f.read()
  except (OSError, EOFError, zlib.error) as e:
    raise CorruptFileError(f"{path}: cannot be read ({e}); download it again") from None
  header = 4 + 4 * ndim
  if len(data) < header:
    raise CorruptFileError(f"{path}: {len(data)} bytes is too short for an IDX header; "
                           "download it again")
  if data[0] != 0 or data[1] != 0 or data[2] != _UBYTE or data[3] != ndim:
    raise CorruptFileError(
        f"{path}: bad IDX magic number {data[:4].hex()} (expected 0000{_UBYTE:02x}{ndim:02x}); "
        "is this the right file?")
  dims = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
  expected = int(np.prod(dims))
  if len(data) - header != expected:
    raise CorruptFileError(
        f"{path}: header says {dims} ({expected} bytes) but the file holds "
        f"{len(data) - header}; the file is truncated or corrupt, download it again")
  return np.frombuffer(data, np.uint8, offset=header).reshape(dims)


def encode(array: np.ndarray, gzipped: bool = False) -> bytes:
  """A uint8 array as the bytes of an IDX file (gzipped or not)."""
  array = np.asarray(array, np.uint8)
  header = bytes([0, 0, _UBYTE, array.ndim]) + b"".join(
      int(d).to_bytes(4, "big") for d in array.shape)
  raw = header + array.tobytes()
  return gzip.compress(raw) if gzipped else raw


def write(path: str, array: np.ndarray) -> None:
  """Writes a uint8 array as an IDX file, whole (gzipped if `path` ends in .gz)."""
  files.write_atomic(path, encode(array, path.endswith(".gz")))


def available_splits(directory: str) -> list[str]:
  """The splits whose two files are both in `directory`."""
  return [s for s, stems in FILES.items() if all(find(directory, n) for n in stems)]


def load_split(directory: str, split: str):
  """(images uint8 [N, H, W, 1], labels int32 [N]) of one split."""
  image_stem, label_stem = FILES[split]
  image_path, label_path = find(directory, image_stem), find(directory, label_stem)
  images = read(image_path, 3)
  labels = read(label_path, 1)
  if len(images) != len(labels):
    raise CorruptFileError(f"{image_path} holds {len(images)} images but {label_path} "
                           f"holds {len(labels)} labels; the files do not belong together")
  return images[..., None], labels.astype(np.int32)


# Where Debian's package dataset-fashion-mnist puts the IDX files.
SYSTEM_DIRS = {"fashion_mnist": ("/usr/share/datasets/fashion-mnist",)}


def check_dir(directory: str, splits, key: str = "data.dir") -> None:
  """One UserError naming `key` when `directory` lacks the IDX files of `splits`."""
  if not os.path.isdir(directory):
    raise UserError(f"config.{key}={directory!r} is not a directory; point it at the IDX files")
  have = available_splits(directory)
  missing = [s for s in splits if s not in have]
  if missing:
    names = ", ".join(f"{n}[.gz]" for s in missing for n in FILES[s])
    raise UserError(f"config.{key}={directory!r} lacks the IDX files {names}; "
                    "copy them there or choose another data.source")


def _system_dir(spec, splits) -> str | None:
  for candidate in SYSTEM_DIRS.get(spec.name, ()):
    if os.path.isdir(candidate) and all(s in available_splits(candidate) for s in splits):
      return candidate
  return None


def _locate(data_config, spec, splits) -> str:
  directory = data_config.dir or _system_dir(spec, splits) or next(
      iter(SYSTEM_DIRS.get(spec.name, ())), "")
  if not directory:
    raise UserError("config.data.dir='' is invalid: data.source='idx' needs the IDX directory")
  check_dir(directory, splits)
  return directory


def _serves(spec) -> str | None:
  return None if spec.idx else f"{spec.name} is not distributed as IDX files; use 'tfds'"


def _register():
  from lenet_jax.data import sources
  sources.register(sources.Source(
      "idx", locate=_locate, serves=_serves,
      load=lambda data_config, spec, splits, location: {s: load_split(location, s) for s in splits},
      # auto: a directory given, or the system's copy (Debian's Fashion-MNIST)
      auto_order=1,
      available=lambda data_config, spec, splits: bool(data_config.dir
                                                       or _system_dir(spec, splits))))


_register()

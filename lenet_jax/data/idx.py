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

import gzip
import os

import numpy as np
import pytest

from lenet_jax.data import idx


def _write_split(directory, split, n=7, gz=True, shape=(28, 28)):
  rng = np.random.default_rng(0)
  images = rng.integers(0, 256, (n,) + shape, dtype=np.uint8)
  labels = rng.integers(0, 10, n, dtype=np.uint8)
  suffix = ".gz" if gz else ""
  image_stem, label_stem = idx.FILES[split]
  idx.write(os.path.join(directory, image_stem + suffix), images)
  idx.write(os.path.join(directory, label_stem + suffix), labels)
  return images, labels


@pytest.mark.parametrize("gz", [True, False])
def test_round_trip(tmp_path, gz):
  images, labels = _write_split(str(tmp_path), "train", gz=gz)
  got_images, got_labels = idx.load_split(str(tmp_path), "train")
  np.testing.assert_array_equal(got_images[..., 0], images)
  np.testing.assert_array_equal(got_labels, labels)
  assert got_images.shape == (7, 28, 28, 1) and got_labels.dtype == np.int32


def test_header_layout(tmp_path):
  path = str(tmp_path / "x-idx1-ubyte")
  idx.write(path, np.arange(5, dtype=np.uint8))
  raw = open(path, "rb").read()
  assert raw[:8] == bytes([0, 0, 8, 1, 0, 0, 0, 5]) and raw[8:] == bytes(range(5))


def test_available_splits_test_only(tmp_path):
  _write_split(str(tmp_path), "test")
  assert idx.available_splits(str(tmp_path)) == ["test"]


def test_bad_magic(tmp_path):
  path = str(tmp_path / "t10k-images-idx3-ubyte")
  with open(path, "wb") as f:
    f.write(bytes([0, 0, 8, 1]) + bytes(4) + bytes(10))
  with pytest.raises(idx.CorruptFileError, match="bad IDX magic number"):
    idx.read(path, 3)


def test_truncated(tmp_path):
  images, _ = _write_split(str(tmp_path), "test", gz=False)
  path = str(tmp_path / "t10k-images-idx3-ubyte")
  data = open(path, "rb").read()
  with open(path, "wb") as f:
    f.write(data[:-100])
  with pytest.raises(idx.CorruptFileError, match="truncated or corrupt"):
    idx.read(path, 3)


def test_corrupt_gzip(tmp_path):
  path = str(tmp_path / "t10k-labels-idx1-ubyte.gz")
  with open(path, "wb") as f:
    f.write(b"\x1f\x8b\x08\x00 not really gzip")
  with pytest.raises(idx.CorruptFileError, match="cannot be read"):
    idx.read(path, 1)


def test_images_and_labels_disagree(tmp_path):
  _write_split(str(tmp_path), "test", n=7)
  idx.write(str(tmp_path / "t10k-labels-idx1-ubyte.gz"), np.zeros(6, np.uint8))
  with pytest.raises(idx.CorruptFileError, match="do not belong together"):
    idx.load_split(str(tmp_path), "test")


def test_gzip_written_is_gzip(tmp_path):
  _write_split(str(tmp_path), "test")
  with gzip.open(tmp_path / "t10k-labels-idx1-ubyte.gz") as f:
    assert f.read(4) == bytes([0, 0, 8, 1])

import os

import jax.numpy as jnp
import numpy as np
import pytest

from conftest import MNIST_TEST_DIR, MNIST_TEST_SIZE, tiny_config
from lenet_jax import data
from lenet_jax.runs import validation


def load(config, splits=("train", "test")):
  """`config`'s data, validated as a run validates it first."""
  return data.load(config.data, validation.validate(config), splits)
from lenet_jax.data import embedded, idx, network, preprocess
from lenet_jax.data.specs import SPECS
from lenet_jax.common.errors import ConfigError, UserError


def test_embedded_split_is_stratified_and_deterministic():
  a = embedded.load(("train", "test"))
  b = embedded.load(("train", "test"))
  assert a["train"][0].shape == (4000, 28, 28, 1) and a["test"][0].shape == (1000, 28, 28, 1)
  assert np.bincount(a["train"][1]).tolist() == [400] * 10
  assert np.bincount(a["test"][1]).tolist() == [100] * 10
  np.testing.assert_array_equal(a["test"][0], b["test"][0])
  assert a["train"][0].dtype == np.uint8 and a["train"][0].max() > 200  # real ink


def test_auto_falls_back_to_embedded_offline():
  # The warning it prints once per process is checked in tests/test_cli.py.
  network.reachable.cache_clear()
  config = tiny_config(**{"data.source": "auto"})
  dataset = load(config)
  assert dataset.source == "embedded"


def test_auto_without_any_copy_is_one_clear_error(monkeypatch):
  monkeypatch.setattr(idx, "SYSTEM_DIRS", {})
  config = tiny_config(**{"data.source": "auto", "data.name": "kmnist"})
  with pytest.raises(UserError, match="no copy of kmnist found"):
    load(config)


def test_auto_prefers_a_local_idx_copy(tmp_path):
  for split, n in (("train", 60), ("test", 20)):
    images = np.zeros((n, 28, 28), np.uint8)
    stem_i, stem_l = idx.FILES[split]
    idx.write(str(tmp_path / (stem_i + ".gz")), images)
    idx.write(str(tmp_path / (stem_l + ".gz")), np.arange(n, dtype=np.uint8) % 10)
  config = tiny_config(**{"data.source": "auto", "data.dir": str(tmp_path)})
  dataset = load(config)
  assert dataset.source == "idx" and dataset.split("train")[0].shape == (60, 28, 28, 1)


def test_test_only_idx_directory():
  config = tiny_config(**{"data.source": "idx", "data.dir": MNIST_TEST_DIR})
  dataset = load(config, ("test",))
  images, labels = dataset.split("test")
  assert images.shape == (MNIST_TEST_SIZE, 28, 28, 1)
  assert np.bincount(labels).min() > 0.085 * MNIST_TEST_SIZE
  with pytest.raises(UserError, match="lacks the IDX files train-images-idx3-ubyte"):
    load(config, ("train", "test"))


def test_tfds_source_with_mock_data():
  import tensorflow_datasets as tfds
  config = tiny_config(**{"data.source": "tfds"})
  with tfds.testing.mock_data(num_examples=12):
    dataset = load(config)
  images, labels = dataset.split("train")
  assert dataset.source == "tfds"
  assert images.shape == (12, 28, 28, 1) and images.dtype == np.uint8
  assert labels.dtype == np.int32 and labels.max() < 10


def test_synthetic():
  config = tiny_config(**{"data.name": "synthetic", "data.source": "synthetic"})
  dataset = load(config)
  assert dataset.split("train")[0].shape == (2048, 28, 28, 1)


@pytest.mark.parametrize("key,value,match", [
    ("data.name", "mnistt", "choose one of mnist"),
    ("data.source", "ftp", "choose one of auto, embedded, folder, idx"),
    ("data.normalization", "zscore", "choose one of mean_std, paper"),
])
def test_bad_data_config(key, value, match):
  with pytest.raises(ConfigError, match=match):
    load(tiny_config(**{key: value}))


def test_labels_out_of_range_and_wrong_shape(tmp_path):
  stem_i, stem_l = idx.FILES["test"]
  idx.write(str(tmp_path / stem_i), np.zeros((4, 28, 28), np.uint8))
  idx.write(str(tmp_path / stem_l), np.array([0, 1, 2, 12], np.uint8))
  config = tiny_config(**{"data.source": "idx", "data.dir": str(tmp_path)})
  with pytest.raises(UserError, match=r"labels in \[0, 12\]"):
    load(config, ("test",))
  idx.write(str(tmp_path / stem_i), np.zeros((4, 20, 20), np.uint8))
  idx.write(str(tmp_path / stem_l), np.array([0, 1, 2, 3], np.uint8))
  with pytest.raises(UserError, match="images of shape"):
    load(config, ("test",))


def test_paper_normalisation_and_padding():
  images = jnp.zeros((1, 28, 28, 1), jnp.uint8).at[0, 0, 0, 0].set(255)
  x = preprocess.prepare(images, SPECS["mnist"], "paper", min_size=32)
  assert x.shape == (1, 32, 32, 1)
  np.testing.assert_allclose(x[0, 2, 2, 0], 1.175, rtol=1e-6)  # ink, moved by the padding
  np.testing.assert_allclose(x[0, 0, 0, 0], -0.1, rtol=1e-6)  # padded background
  np.testing.assert_allclose(x[0, 3, 3, 0], -0.1, rtol=1e-6)


def test_mean_std_normalisation():
  images = jnp.full((1, 32, 32, 3), 255, jnp.uint8)
  x = preprocess.prepare(images, SPECS["cifar10"], "mean_std", min_size=0)
  np.testing.assert_allclose(x[0, 0, 0], (1 - np.array(SPECS["cifar10"].mean))
                             / np.array(SPECS["cifar10"].std), rtol=1e-6)


def test_network_probe_respects_offline_switch():
  network.reachable.cache_clear()
  assert os.environ["LENET_JAX_OFFLINE"] == "1"
  assert network.reachable() is False


def test_auto_works_without_tensorflow_datasets(monkeypatch):
  import sys
  monkeypatch.setitem(sys.modules, "tensorflow_datasets", None)  # import now raises ImportError
  dataset = load(tiny_config(**{"data.source": "auto"}))
  assert dataset.source == "embedded"
  with pytest.raises(UserError, match="pip install tensorflow-datasets"):
    load(tiny_config(**{"data.source": "tfds"}))


def test_test_split_from_its_own_directory():
  config = tiny_config(**{"data.source": "embedded", "data.test_dir": MNIST_TEST_DIR})
  dataset = load(config)
  assert dataset.split("train")[0].shape == (4000, 28, 28, 1)
  assert dataset.split("test")[0].shape == (MNIST_TEST_SIZE, 28, 28, 1)
  assert dataset.source == "embedded" and MNIST_TEST_DIR in dataset.location
  only_test = load(config, ("test",))
  assert only_test.split("test")[1].shape == (MNIST_TEST_SIZE,)

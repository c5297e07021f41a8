"""Test set-up: CPU only, no network probes, strict rank promotion, fake devices."""

import os
import sys

os.environ.setdefault("LENET_JAX_OFFLINE", "1")
os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "")
                           + " --xla_force_host_platform_device_count=4").strip()
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)  # for `configs`

import jax  # noqa: E402
import pytest  # noqa: E402

jax.config.update("jax_numpy_rank_promotion", "raise")



def _mnist_test_dir():
  """(directory, images) of a test-only MNIST IDX directory: the official 10,000-image
  split beside the checkout where there is one, else the embedded digits' 1,000-image
  test split written as IDX files, so the suite needs nothing outside the repository."""
  official = os.path.join(ROOT, "..", "shared", "data", "mnist_test")
  if os.path.isfile(os.path.join(official, "t10k-images-idx3-ubyte.gz")):
    return official, 10000
  import tempfile

  from lenet_jax.data import embedded, idx
  images, labels = embedded.load(("test",))["test"]
  directory = tempfile.mkdtemp(prefix="lenet_jax_mnist_test_")
  idx.write(os.path.join(directory, "t10k-images-idx3-ubyte.gz"), images[..., 0])
  idx.write(os.path.join(directory, "t10k-labels-idx1-ubyte.gz"), labels.astype("uint8"))
  return directory, len(labels)


MNIST_TEST_DIR, MNIST_TEST_SIZE = _mnist_test_dir()


def tiny_config(**overrides):
  """configs/lenet5.py shrunk to seconds: embedded digits, one epoch, small batches."""
  from configs import lenet5
  config = lenet5.get_config()
  config.num_epochs = 1
  config.batch_size = 50
  config.eval_batch_size = 250
  config.data.source = "embedded"
  config.schedule = "constant"
  return override(config, **overrides)


def override(config, **overrides):
  """Sets dotted keys: override(config, **{"data.name": "synthetic"})."""
  for key, value in overrides.items():
    target = config
    *path, leaf = key.split(".")
    for part in path:
      target = target[part]
    target[leaf] = value
  return config


def assert_same_values_and_gradients(model, reference, x, rtol=1e-4):
  """`model` and `reference` (NNX modules with the same parameter tree) give the same
  outputs on `x`, and the same gradients of sum(output^2), up to summation order."""
  import jax.numpy as jnp
  import numpy as np
  from flax import nnx

  def grads(m):
    return nnx.grad(lambda m: jnp.sum(m(x) ** 2))(m)

  np.testing.assert_allclose(model(x), reference(x), rtol=1e-5, atol=1e-6)
  for a, b in zip(jax.tree.leaves(grads(model)), jax.tree.leaves(grads(reference))):
    scale = float(jnp.max(jnp.abs(b)))  # summation order differs: rounding only
    np.testing.assert_allclose(a, b, rtol=rtol, atol=1e-5 * scale)


@pytest.fixture
def tiny():
  return tiny_config

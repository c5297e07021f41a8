import jax
import jax.numpy as jnp
import numpy as np

from lenet_jax.data import distortions


def _images():
  return jax.random.uniform(jax.random.key(0), (4, 32, 32, 1))


def test_zero_range_is_identity():
  x = _images()
  np.testing.assert_array_equal(distortions.distort(jax.random.key(1), x), x)


def test_shape_dtype_and_randomness():
  x = _images()
  y = distortions.distort(jax.random.key(1), x, translate=2.0, scale=0.1, squeeze=0.1, shear=0.2)
  assert y.shape == x.shape and y.dtype == x.dtype
  assert not np.allclose(y, x)
  other = distortions.distort(jax.random.key(2), x, translate=2.0, scale=0.1, squeeze=0.1,
                              shear=0.2)
  assert not np.allclose(y, other)  # the key decides the transform


def test_integer_translation_shifts_pixels():
  x = jnp.zeros((1, 8, 8, 1)).at[0, 3, 4, 0].set(1.0)
  a = jnp.eye(2)[None]
  y = distortions.apply(x, a, jnp.array([[1.0, -2.0]]))  # output (r, c) reads input (r+1, c-2)
  assert y[0, 2, 6, 0] == 1.0 and float(y.sum()) == 1.0


def test_training_with_distortions_runs(tmp_path):
  from conftest import tiny_config
  from lenet_jax import metrics, train
  config = tiny_config(**{"distortions.enabled": True})
  train.train_and_evaluate(config, str(tmp_path))
  assert metrics.read(str(tmp_path))[0]["test_accuracy"] > 0.5

"""Initial values drawn flat and reshaped are jax.random's values for the shape, bit for bit."""

import jax
import numpy as np
import pytest
from flax import nnx

from lenet_jax.models import sampling

SHAPES = [(7,), (5, 5, 1, 6), (2, 3, 3, 4, 8)]


@pytest.mark.parametrize("shape", SHAPES)
def test_each_draw_equals_jax_random_s_for_the_shape(shape):
  key = jax.random.key(11)
  pairs = [
      (sampling.normal(key, shape), jax.random.normal(key, shape)),
      (sampling.uniform(key, shape, minval=-0.3, maxval=0.7),
       jax.random.uniform(key, shape, minval=-0.3, maxval=0.7)),
      (sampling.truncated_normal(key, -2, 2, shape), jax.random.truncated_normal(key, -2, 2, shape)),
  ]
  for flat, shaped in pairs:
    assert flat.shape == shaped.shape and flat.dtype == shaped.dtype
    np.testing.assert_array_equal(flat, shaped)


@pytest.mark.parametrize("shape", [(5, 5, 6, 16), (84, 10)])
def test_lecun_normal_equals_flax_s(shape):
  key = jax.random.key(3)
  np.testing.assert_array_equal(sampling.lecun_normal()(key, shape),
                                nnx.initializers.lecun_normal()(key, shape))

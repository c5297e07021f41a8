"""AlexNet's alternative formulations give the same values and gradients as the plain ones."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx
from jax import lax

from conftest import SMALL_ALEXNET, alexnet_model, assert_same_values_and_gradients
from lenet_jax.models import alexnet_ops, sampling


@pytest.mark.parametrize("size,kernel,stride", [(39, 11, 4), (41, 11, 4), (20, 5, 3)])
def test_space_to_depth_conv_equals_the_strided_conv(size, kernel, stride):
  kx, kk = jax.random.split(jax.random.key(0))
  x = sampling.normal(kx, (2, size, size, 3))
  w = sampling.normal(kk, (kernel, kernel, 3, 8))
  plain = lambda x, w: lax.conv_general_dilated(x, w, (stride, stride), "VALID",  # noqa: E731
                                                dimension_numbers=("NHWC", "HWIO", "NHWC"))
  folded = lambda x, w: alexnet_ops.space_to_depth_conv(x, w, stride)  # noqa: E731
  folded, plain = jax.jit(folded), jax.jit(plain)  # each one program, not op by op
  np.testing.assert_allclose(folded(x, w), plain(x, w), rtol=1e-4, atol=1e-4)
  r = sampling.normal(jax.random.key(2), plain(x, w).shape)
  grad = lambda f: jax.jit(jax.grad(lambda x, w: jnp.sum(f(x, w) * r), (0, 1)))  # noqa: E731
  for a, b in zip(grad(folded)(x, w), grad(plain)(x, w)):
    scale = float(jnp.max(jnp.abs(b)))  # summation order differs: rounding only
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5 * scale)


def test_first_max_pool_gradient_is_select_and_scatters_with_ties():
  # Small integers: many windows hold their maximum twice or more (as ReLU's zeros do).
  x = jax.random.randint(jax.random.key(0), (2, 13, 13, 4), 0, 3).astype(jnp.float32)
  g = sampling.normal(jax.random.key(1), (2, 6, 6, 4))
  ours, vjp_ours = jax.vjp(lambda x: alexnet_ops.max_pool(x, 3, 2), x)
  xla, vjp_xla = jax.vjp(lambda x: nnx.max_pool(x, (3, 3), (2, 2)), x)
  np.testing.assert_array_equal(ours, xla)
  # Where three windows send gradient to one element, the sums' order may differ.
  np.testing.assert_allclose(vjp_ours(g)[0], vjp_xla(g)[0], rtol=1e-6, atol=1e-6)


def test_alexnet_with_every_alternative_equals_the_plain_network():
  x = sampling.normal(jax.random.key(1), (2, 67, 67, 3))
  plain = alexnet_model(**SMALL_ALEXNET, rngs=nnx.Rngs(0))
  other = alexnet_model(**SMALL_ALEXNET, conv1="space_to_depth", pool_gradient="first_max",
                  lrn_dtype="compute", rngs=nnx.Rngs(0))
  assert_same_values_and_gradients(other, plain, x)


def test_auto_picks_the_gpu_forms_only_on_a_gpu(monkeypatch):
  from configs import alexnet
  from lenet_jax import models
  config = alexnet.get_config().model
  config.dtype = "bfloat16"
  knobs = lambda: models.validate(config, 10)  # noqa: E731
  assert knobs() == {"channel_multiple": 1, "conv1": "strided", "lrn_dtype": "float32"}
  monkeypatch.setattr(jax, "default_backend", lambda: "gpu")
  assert knobs() == {"channel_multiple": 8, "conv1": "space_to_depth", "lrn_dtype": "compute"}
  config.dtype = "float32"
  assert knobs()["lrn_dtype"] == "float32" and knobs()["channel_multiple"] == 1
  config.conv1 = "strided"
  assert knobs()["conv1"] == "strided"

"""The matmul implementation computes what XLA's convolutions and pooling compute."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from lenet_jax import models
from lenet_jax.models import lenet5, matmul_ops
from conftest import lenet5_model


def _conv(x, kernel, bias):
  y = jax.lax.conv_general_dilated(x, kernel, (1, 1), "VALID",
                                   dimension_numbers=("NHWC", "HWIO", "NHWC"))
  return y + bias.reshape(1, 1, 1, -1)


def _random(shape, seed):
  return jnp.asarray(np.random.default_rng(seed).normal(size=shape).astype(np.float32))


@pytest.mark.parametrize("width,channels,out,block", [
    (32, 1, 6, 1), (32, 1, 6, 4), (32, 1, 6, 7), (32, 1, 6, 28),
    (14, 6, 16, 1), (14, 6, 16, 2), (14, 6, 16, 5), (14, 6, 16, 10),
    (5, 16, 120, 1), (11, 3, 4, 7)])
def test_conv2d_and_its_gradients_equal_xla(width, channels, out, block):
  x = _random((3, width + 2, width, channels), 0)  # not square: rows and columns differ
  kernel, bias = _random((5, 5, channels, out), 1), _random((out,), 2)
  g = _random((3, width - 2, width - 4, out), 3)

  @jax.jit
  def value_and_grads(x, kernel, bias, g):
    want, want_vjp = jax.vjp(_conv, x, kernel, bias)
    got, got_vjp = jax.vjp(lambda *a: matmul_ops.conv2d(*a, block=block), x, kernel, bias)
    return (got, want), (got_vjp(g), want_vjp(g))

  (got, want), grads = value_and_grads(x, kernel, bias, g)
  np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
  for a, b in zip(*grads):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-4)


def test_conv2d_rejects_a_block_that_does_not_divide_the_width():
  with pytest.raises(ValueError, match="does not divide"):
    matmul_ops.conv2d(jnp.zeros((1, 32, 32, 1)), jnp.zeros((5, 5, 1, 6)), block=3)


def test_default_block_keeps_the_band_at_most_the_kernel():
  assert [matmul_ops.default_block(w, 5) for w in (28, 10, 1, 13, 12)] == [4, 5, 1, 1, 4]


def test_banded_matrix_places_each_shifted_kernel():
  kernel = _random((5, 5, 2, 3), 0)
  m = np.asarray(matmul_ops.banded_matrix(kernel, 4)).reshape(5, 8, 2, 4, 3)
  for b, a in itertools.product(range(4), range(8)):
    want = kernel[:, a - b] if 0 <= a - b < 5 else np.zeros((5, 2, 3))
    np.testing.assert_array_equal(m[:, a, :, b], want)


@pytest.mark.parametrize("shape,kernel_shape", [
    ((3, 32, 32, 1), (5, 5, 1, 6)), ((3, 14, 14, 6), (5, 5, 6, 16)),
    ((2, 33, 35, 3), (5, 5, 3, 4)), ((2, 15, 17, 2), (3, 3, 2, 5))])
def test_conv_max_pool_equals_conv_then_pool(shape, kernel_shape):
  x, kernel, bias = _random(shape, 0), _random(kernel_shape, 1), _random(kernel_shape[-1:], 2)

  def two_steps(x, kernel, bias):
    return matmul_ops.max_pool(matmul_ops.conv2d(x, kernel, bias, block=1))

  @jax.jit
  def value_and_grads(x, kernel, bias):
    got, got_vjp = jax.vjp(matmul_ops.conv_max_pool, x, kernel, bias)
    want, want_vjp = jax.vjp(two_steps, x, kernel, bias)
    g = jnp.cos(jnp.arange(got.size, dtype=got.dtype)).reshape(got.shape)
    return (got, want), (got_vjp(g), want_vjp(g))

  (got, want), grads = value_and_grads(x, kernel, bias)
  assert got.shape == want.shape
  np.testing.assert_allclose(got, want, rtol=1e-5, atol=5e-5)
  for a, b in zip(*grads):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-4)


def test_conv_max_pool_ties_route_to_the_first_member():
  x = _random((1, 8, 8, 1), 0)
  kernel, bias = jnp.zeros((5, 5, 1, 2)), jnp.ones((2,))  # every output equals the bias
  grad_x, grad_k, grad_b = jax.jit(jax.grad(lambda *a: matmul_ops.conv_max_pool(*a).sum(),
                                            argnums=(0, 1, 2)))(x, kernel, bias)
  want = jax.jit(jax.grad(lambda *a: matmul_ops.max_pool(matmul_ops.conv2d(*a)).sum(),
                          argnums=(0, 1, 2)))(x, kernel, bias)
  np.testing.assert_array_equal(grad_b, [4.0, 4.0])  # 2x2 windows, one member each
  for a, b in zip((grad_x, grad_k, grad_b), want):
    np.testing.assert_allclose(a, b, atol=1e-6)


def test_conv_max_pool_rejects_an_odd_block():
  with pytest.raises(ValueError, match="even"):
    matmul_ops.conv_max_pool(jnp.zeros((1, 32, 32, 1)), jnp.zeros((5, 5, 1, 6)), jnp.zeros(6),
                             block=7)


def _xla_max_pool(x):
  return nnx.max_pool(x, (2, 2), (2, 2))


@pytest.mark.parametrize("values", ["random", "relu", "ties"])
def test_max_pool_and_gradient_equal_select_and_scatter(values):
  x = _random((2, 9, 12, 3), 0)  # an odd row: VALID pooling drops it
  if values == "relu":
    x = jax.nn.relu(x)  # windows of zeros: ties at 0
  if values == "ties":
    x = jnp.round(x)  # many equal maxima; the first in row-major order wins
  g = _random((2, 4, 6, 3), 1)
  want, want_vjp = jax.vjp(_xla_max_pool, x)
  got, got_vjp = jax.vjp(matmul_ops.max_pool, x)
  np.testing.assert_array_equal(got, want)
  np.testing.assert_array_equal(got_vjp(g)[0], want_vjp(g)[0])


def test_avg_pool_equals_xla():
  x = _random((2, 10, 7, 3), 0)
  want = nnx.avg_pool(x, (2, 2), (2, 2))
  np.testing.assert_allclose(matmul_ops.avg_pool(x), want, rtol=1e-6)


@pytest.mark.parametrize("kw", [
    {}, dict(activation="tanh"), dict(activation="gelu"), dict(activation="leaky_relu"),
    dict(pooling="avg", c3="table"),
    dict(activation="scaled_tanh", pooling="subsample", c3="table", output="rbf", init="paper"),
    dict(input_shape=(36, 34, 3))], ids=str)
def test_lenet5_implementations_agree(kw):
  kw = dict(kw)
  shape = kw.pop("input_shape", (32, 32, 1))
  xla = lenet5_model(input_shape=shape, implementation="xla", rngs=nnx.Rngs(0), **kw)
  matmul = lenet5_model(input_shape=shape, implementation="matmul", rngs=nnx.Rngs(0), **kw)
  x = _random((8,) + shape, 0)

  def loss(model):
    return jnp.sum(jnp.sin(model(x)))

  @nnx.jit
  def value_and_grad(model):
    return model(x), nnx.grad(loss)(model)

  (want_y, want), (got_y, got) = value_and_grad(xla), value_and_grad(matmul)
  np.testing.assert_allclose(got_y, want_y, rtol=1e-5, atol=1e-5)
  for a, b in zip(jax.tree.leaves(nnx.state(got)), jax.tree.leaves(nnx.state(want))):
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def test_c1_and_s2_are_fused_only_where_pooling_commutes_with_the_activation():
  def fused(**kw):
    return lenet5_model(implementation="matmul", rngs=nnx.Rngs(0), **kw).fused_c1_s2
  assert fused() and fused(activation="tanh")
  assert not fused(activation="gelu") and not fused(pooling="avg")
  assert not lenet5_model(implementation="xla", rngs=nnx.Rngs(0)).fused_c1_s2


def test_auto_is_matmul_on_cpu_and_choices_are_checked():
  from configs import lenet5 as lenet5_config
  config = lenet5_config.get_config().model
  assert jax.default_backend() == "cpu"
  assert models.validate(config, 10)["implementation"] == "matmul"
  config.implementation = "xla"
  assert models.validate(config, 10)["implementation"] == "xla"
  with pytest.raises(ValueError, match="implementation"):
    lenet5_model(implementation="cudnn", rngs=nnx.Rngs(0))
  assert lenet5.IMPLEMENTATIONS == ("xla", "matmul")

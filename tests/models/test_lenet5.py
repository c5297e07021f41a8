import itertools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

from lenet_jax.models.losses import map_loss
from lenet_jax.models import bitmaps, lenet5, sampling
from lenet_jax.models.activations import scaled_tanh
from lenet_jax.models.lenet5 import C3_TABLE, Prototypes
from conftest import lenet5_model

PAPER = dict(activation="scaled_tanh", pooling="subsample", c3="table", output="rbf", init="paper")


def n_params(module):
  return sum(x.size for x in jax.tree.leaves(nnx.state(module, nnx.Param)))


@pytest.mark.parametrize("pooling,c3,output,init", itertools.product(
    lenet5.POOLINGS, lenet5.C3_CONNECTIONS, lenet5.OUTPUTS, lenet5.INITS))
def test_shapes_every_combination(pooling, c3, output, init):
  for activation in lenet5.ACTIVATION_NAMES:
    build_and_call = lambda x: lenet5_model(  # noqa: E731  (built abstractly too)
        activation=activation, pooling=pooling, c3=c3, output=output, init=init,
        rngs=nnx.Rngs(0))(x)
    out = jax.eval_shape(build_and_call, jax.ShapeDtypeStruct((3, 32, 32, 1), jnp.float32))
    assert out.shape == (3, 10)


def test_forward_is_finite_for_paper_and_modern():
  x = sampling.normal(jax.random.key(0), (2, 32, 32, 1))
  for kw in ({}, PAPER):
    assert jnp.all(jnp.isfinite(lenet5_model(rngs=nnx.Rngs(0), **kw)(x)))


def test_cifar_shaped_input():
  model = lenet5_model(input_shape=(32, 32, 3), num_classes=10, rngs=nnx.Rngs(0))
  assert model(jnp.zeros((2, 32, 32, 3))).shape == (2, 10)
  assert n_params(model) == 61_706 + 2 * 150  # C1 reads three channels


def test_larger_input_grows_f6():
  model = lenet5_model(input_shape=(40, 40, 1), rngs=nnx.Rngs(0))
  assert model(jnp.zeros((1, 40, 40, 1))).shape == (1, 10)


def test_parameter_counts():
  modern = lenet5_model(rngs=nnx.Rngs(0))
  assert n_params(modern) == 61_706
  assert n_params(modern.c3) == 2_416
  paper = lenet5_model(rngs=nnx.Rngs(0), **PAPER)
  assert n_params(paper) == 60_000
  assert (n_params(paper.c1), n_params(paper.s2), n_params(paper.c3), n_params(paper.s4),
          n_params(paper.c5), n_params(paper.f6), n_params(paper.output)) == (
              156, 12, 1_516, 32, 48_120, 10_164, 0)


def test_c3_table_is_the_papers():
  assert [len(m) for m in C3_TABLE] == [3] * 6 + [4] * 9 + [6]
  assert C3_TABLE[0] == (0, 1, 2) and C3_TABLE[5] == (5, 0, 1)
  assert C3_TABLE[6] == (0, 1, 2, 3) and C3_TABLE[11] == (5, 0, 1, 2)
  assert C3_TABLE[12:15] == ((0, 1, 3, 4), (1, 2, 4, 5), (0, 2, 3, 5))


def _train(model, steps=5, lr=1e-2):
  graphdef, params, rest = nnx.split(model, nnx.Param, ...)
  tx = optax.adam(lr)
  opt_state = tx.init(params)
  x = sampling.normal(jax.random.key(1), (8, 32, 32, 1))
  y = jnp.arange(8) % 10

  @jax.jit
  def step(params, opt_state):
    def loss(p):
      return map_loss(nnx.merge(graphdef, p, rest)(x), y, 1.0)
    grads = jax.grad(loss)(params)
    updates, opt_state = tx.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state

  for _ in range(steps):
    params, opt_state = step(params, opt_state)
  return nnx.merge(graphdef, params, rest)


def test_c3_mask_stays_zero_through_training():
  model = lenet5_model(rngs=nnx.Rngs(0), **PAPER)
  before = np.asarray(model.c3.kernel[...])
  trained = _train(model)
  dense = np.asarray(trained.c3.dense_kernel())
  connected = np.zeros((6, 16), bool)
  for out_map, inputs in enumerate(C3_TABLE):
    connected[list(inputs), out_map] = True
  assert np.all(dense[:, :, ~connected] == 0.0)
  assert np.all(dense[:, :, connected] != 0.0)
  assert not np.allclose(np.asarray(trained.c3.kernel[...]), before)  # it did train


def test_rbf_prototypes_are_fixed_constants():
  model = lenet5_model(rngs=nnx.Rngs(0), **PAPER)
  assert isinstance(model.output.prototypes, Prototypes)
  assert not isinstance(model.output.prototypes, nnx.Param)
  np.testing.assert_array_equal(model.output.prototypes[...], bitmaps.prototypes())
  trained = _train(model)
  np.testing.assert_array_equal(trained.output.prototypes[...], bitmaps.prototypes())


def test_bitmaps_are_distinct_7x12_pm1_codes():
  codes = bitmaps.prototypes()
  assert codes.shape == (10, 84)
  assert set(np.unique(codes)) == {-1.0, 1.0}
  assert len({tuple(c) for c in codes}) == 10


def test_rbf_output_is_negative_squared_distance():
  model = lenet5_model(rngs=nnx.Rngs(0), **PAPER)
  x = jnp.asarray(bitmaps.prototypes()[3:4])
  out = model.output(x)
  assert out[0, 3] == 0.0
  expected = -np.sum((bitmaps.prototypes() - bitmaps.prototypes()[3]) ** 2, axis=1)
  np.testing.assert_allclose(out[0], expected)


def test_map_loss_hand_computed():
  # y (penalties) = [1, 2, 4] for label 1, j = 0.5:
  # E = y_1 + log(e^-j + e^-1 + e^-2 + e^-4) = 2 + log(0.606531 + 0.367879 + 0.135335 + 0.018316)
  logits = -jnp.array([[1.0, 2.0, 4.0]])
  expected = 2.0 + np.log(np.exp(-0.5) + np.exp(-1.0) + np.exp(-2.0) + np.exp(-4.0))
  np.testing.assert_allclose(map_loss(logits, jnp.array([1]), 0.5), expected, rtol=1e-6)
  np.testing.assert_allclose(expected, 2.1205, atol=1e-4)


def test_paper_init_bounds():
  model = lenet5_model(rngs=nnx.Rngs(0), **PAPER)
  assert np.abs(model.c1.conv.kernel[...]).max() <= 2.4 / 25
  assert np.abs(model.c5.conv.kernel[...]).max() <= 2.4 / 400
  assert np.abs(model.f6.linear.kernel[...]).max() <= 2.4 / 120
  bound = 2.4 / (25 * np.array([len(m) for m in C3_TABLE]))
  dense = np.abs(np.asarray(model.c3.dense_kernel()))
  assert np.all(dense.max(axis=(0, 1, 2)) <= bound)
  assert np.abs(model.c5.conv.kernel[...]).max() > 0.9 * 2.4 / 400  # uses the whole range


def test_subsampling_is_sum_times_coefficient_plus_bias_then_squash():
  model = lenet5_model(rngs=nnx.Rngs(0), **PAPER)
  pool = model.s2
  x = sampling.normal(jax.random.key(3), (1, 4, 4, 6))
  window = x[0, 0:2, 2:4, :].sum(axis=(0, 1))
  expected = scaled_tanh(window * pool.coefficient[...] + pool.bias[...])
  np.testing.assert_allclose(pool(x)[0, 0, 1], expected, rtol=1e-6)


def test_scaled_tanh_constants():
  np.testing.assert_allclose(scaled_tanh(jnp.array(1.0)), 1.0, atol=1e-3)  # f(1) ~ 1
  np.testing.assert_allclose(scaled_tanh(jnp.array(100.0)), 1.7159, rtol=1e-6)

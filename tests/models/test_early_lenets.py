"""LeNet-1 and LeNet-4: the counts the papers state, shared stages, connection table."""

import jax
import numpy as np
import pytest
from flax import nnx

from conftest import jitted, lenet1_model, lenet4_model, tiny_config
from configs import lenet1, lenet4
from lenet_jax import models
from lenet_jax.models import sampling, summary
from lenet_jax.training import train
from lenet_jax.models.early_lenets import LENET1_TABLE, LeNet4
from lenet_jax.runs import validation

PAPER_UNITS = dict(activation="scaled_tanh", pooling="subsample", init="paper")


def _totals(model, shape):
  rows = summary.rows(model, shape)
  return sum(r.params for r in rows), sum(r.connections for r in rows), rows


def test_lenet1_has_the_1990_papers_exact_counts():
  # LeCun et al. 1990: 2,578 independent parameters, 98,442 connections
  # (the 1998 paper: "about 2600 free parameters").
  params, connections, rows = _totals(lenet1_model(rngs=nnx.Rngs(0), **PAPER_UNITS), (28, 28, 1))
  assert (params, connections) == (2_578, 98_442)
  assert [r.shape for r in rows] == [(24, 24, 4), (12, 12, 4), (8, 8, 12), (4, 4, 12), (10,)]
  assert {r.name: r.params for r in rows} == {"C1": 104, "S2": 8, "C3": 512, "S4": 24,
                                              "OUTPUT": 1_930}


def _lenet4_counts_by_hand(h):
  """LeNet-4's totals worked out from its layers (our map counts; the paper gives only
  the totals): C1 4 maps 5x5 on 32x32 -> 28x28; S2 subsampling (coefficient + bias a
  map; 4 inputs and a bias a unit); C3 16 maps 5x5 over all 4 S2 maps -> 10x10; S4;
  F5 h units over S4's 400; 10 outputs."""
  c1 = (4 * 25 + 4, 28 * 28 * 4 * 26)
  s2 = (4 * 2, 14 * 14 * 4 * 5)
  c3 = (16 * (4 * 25 + 1), 10 * 10 * 16 * (4 * 25 + 1))
  s4 = (16 * 2, 5 * 5 * 16 * 5)
  f5 = (h * 401, h * 401)
  out = (10 * (h + 1), 10 * (h + 1))
  layers = (c1, s2, c3, s4, f5, out)
  return sum(p for p, _ in layers), sum(c for _, c in layers)


def _about(count, stated):
  """Whether `count` is the paper's "about <stated>" to the two significant figures it
  gives: within half a unit of the second figure (17,000: 16,500-17,500)."""
  unit = 10 ** (len(str(stated)) - 2)
  return abs(count - stated) <= unit / 2


def test_lenet4_counts_follow_its_layers():
  # The 1998 paper (section III.C): "about 260,000 connections and ... about 17,000 free
  # parameters", two significant figures each. With our map counts the totals are
  # 1,770 + 411h and 249,066 + 411h: no h gives both exactly (h = 37, the default:
  # 16,977 parameters; h = 27: 260,163 connections), and to the paper's two figures
  # only h = 36, 37 and 38 give both; the default must be one of them.
  assert _lenet4_counts_by_hand(0) == (1_770, 249_066)
  assert _lenet4_counts_by_hand(1)[0] - _lenet4_counts_by_hand(0)[0] == 411
  for h in (27, 37):
    params, connections, _ = _totals(lenet4_model(hidden=h, rngs=nnx.Rngs(0), **PAPER_UNITS),
                                     (32, 32, 1))
    assert (params, connections) == _lenet4_counts_by_hand(h)
  params, connections, rows = _totals(lenet4_model(rngs=nnx.Rngs(0), **PAPER_UNITS), (32, 32, 1))
  assert (params, connections) == (16_977, 264_273)
  assert [h for h in range(1, 200) if _about(_lenet4_counts_by_hand(h)[0], 17_000)
          and _about(_lenet4_counts_by_hand(h)[1], 260_000)] == [36, 37, 38]
  assert _about(params, 17_000) and _about(connections, 260_000)
  assert [r.name for r in rows] == ["C1", "S2", "C3", "S4", "F5", "OUTPUT"]
  assert [r.shape for r in rows][:5] == [(28, 28, 4), (14, 14, 4), (10, 10, 16), (5, 5, 16),
                                         (37,)]


def test_lenet1_table_has_twenty_kernels_every_s2_map_feeding_five():
  assert sum(len(m) for m in LENET1_TABLE) == 20 and len(LENET1_TABLE) == 12
  assert [sum(i in m for m in LENET1_TABLE) for i in range(4)] == [5, 5, 5, 5]


def test_lenet1_c3_reads_only_the_table():
  model = lenet1_model(rngs=nnx.Rngs(0), **PAPER_UNITS)
  dense = np.asarray(model.c3.dense_kernel())
  for out_map in range(12):
    for in_map in range(4):
      connected = in_map in LENET1_TABLE[out_map]
      assert bool(np.any(dense[:, :, in_map, out_map])) == connected, (in_map, out_map)
  # The packed kernel is the only C3 weight: 20 kernels are all training can move.
  assert model.c3.kernel[...].shape == (5, 5, 20)


@pytest.mark.parametrize("cls, shape, pooling", [(lenet1_model, (28, 28, 1), "max"),
                                                 (lenet4_model, (32, 32, 1), "subsample")])
def test_matmul_implementation_computes_what_xla_computes(cls, shape, pooling):
  # max: C1 and S2 fused into one product; subsample: every stage on its own.
  x = sampling.normal(jax.random.key(0), (3,) + shape)
  xla = cls(input_shape=shape, pooling=pooling, implementation="xla", rngs=nnx.Rngs(0))
  matmul = cls(input_shape=shape, pooling=pooling, implementation="matmul", rngs=nnx.Rngs(0))
  assert matmul.fused_c1_s2 == (pooling == "max")
  (out_m, grads_m), (out_x, grads_x) = _outputs_and_grads(matmul, x), _outputs_and_grads(xla, x)
  np.testing.assert_allclose(out_m, out_x, rtol=1e-5, atol=1e-6)
  for a, b in zip(jax.tree.leaves(grads_m), jax.tree.leaves(grads_x)):
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5 * float(np.max(np.abs(b))))


def _outputs_and_grads(model, x):
  """(outputs, gradients of sum(outputs^2)), compiled: op by op is slow for these nets."""
  graphdef, params, rest = nnx.split(model, nnx.Param, ...)

  @jax.jit
  def loss(p):
    out = nnx.merge(graphdef, p, rest)(x)
    return (out ** 2).sum(), out

  (_, out), grads = jax.value_and_grad(loss, has_aux=True)(params)
  return out, grads


def test_too_small_inputs_are_refused():
  with pytest.raises(ValueError, match="28x28"):
    lenet1_model(input_shape=(16, 16, 1), rngs=nnx.Rngs(0))
  with pytest.raises(ValueError, match="32x32"):
    lenet4_model(input_shape=(28, 28, 1), rngs=nnx.Rngs(0))


def test_configs_pick_the_networks_and_their_inputs():
  c1, c4 = lenet1.get_config("paper"), lenet4.get_config()
  assert (c1.model.name, c1.data.digit_size, c1.data.pad_to) == ("lenet1", 16, 28)
  assert c1.model.pooling == "subsample" and c1.data.normalization == "paper"
  table = summary.summarize(c1, validation.validate(c1))
  assert table.splitlines()[-1].split()[3:5] == ["2,578", "98,442"]
  assert c4.model.name == "lenet4" and isinstance(
      models.create(c4.model, models.validate(c4.model, 10), (32, 32, 1), 10, 0), LeNet4)


@pytest.mark.parametrize("name", ["lenet1", "lenet4"])
def test_real_training_function_learns_each(tmp_path, name):
  config = {"lenet1": lenet1, "lenet4": lenet4}[name].get_config()
  tiny = tiny_config()
  config.update(num_epochs=1, batch_size=50, eval_batch_size=250, schedule="constant")
  config.data.source = tiny.data.source
  result = train.train_and_evaluate(config, str(tmp_path))
  # 80 steps on 4,000 real digits: 0.82 (LeNet-1) and 0.88 (LeNet-4); 0.10 with C3's or
  # S2's outputs zeroed (experiments/accuracy_floors). Linear versions train as well in
  # 80 steps: the numpy forward pass above catches a lost activation.
  assert result["last_test_accuracy"] > 0.6


def _numpy_conv(x, kernel, bias):
  """VALID convolution written with numpy: x [N, H, W, C], kernel [k, k, C, O]."""
  k = kernel.shape[0]
  h, w = x.shape[1] - k + 1, x.shape[2] - k + 1
  patches = np.stack([x[:, r:r + h, c:c + w] for r in range(k) for c in range(k)], axis=3)
  return np.einsum("nhwpc,pco->nhwo", patches, kernel.reshape(k * k, *kernel.shape[2:])) + bias


def _numpy_max_pool(x):
  n, h, w, c = x.shape
  return x.reshape(n, h // 2, 2, w // 2, 2, c).max(axis=(2, 4))


@pytest.mark.parametrize("cls, shape", [(lenet1_model, (28, 28, 1)), (lenet4_model, (32, 32, 1))])
def test_logits_equal_a_forward_pass_written_with_numpy(cls, shape):
  # A second computation of both networks (relu, max pooling): catches a stage skipped
  # or an activation lost (a linear LeNet-1 or LeNet-4 trains to the same accuracy in
  # the tests' 80 steps: experiments/accuracy_floors), and C3 reading other maps than
  # LENET1_TABLE lists (the table's kernels are scattered here by hand).
  model = cls(input_shape=shape, rngs=nnx.Rngs(1))
  x = np.asarray(sampling.normal(jax.random.key(0), (2,) + shape))
  p = lambda v: np.asarray(v[...], np.float64)  # noqa: E731
  relu = lambda v: np.maximum(v, 0.0)  # noqa: E731
  y = _numpy_max_pool(relu(_numpy_conv(x, p(model.c1.conv.kernel), p(model.c1.conv.bias))))
  if cls is lenet1_model:
    packed, kernel, j = p(model.c3.kernel), np.zeros((5, 5, 4, 12)), 0
    for out_map, in_maps in enumerate(LENET1_TABLE):
      for in_map in in_maps:
        kernel[:, :, in_map, out_map], j = packed[:, :, j], j + 1
    y = _numpy_conv(y, kernel, p(model.c3.bias))
  else:
    y = _numpy_conv(y, p(model.c3.conv.kernel), p(model.c3.conv.bias))
  y = _numpy_max_pool(relu(y)).reshape(2, -1)
  if cls is lenet4_model:
    y = relu(y @ p(model.f5.linear.kernel) + p(model.f5.linear.bias))
  want = y @ p(model.output.linear.kernel) + p(model.output.linear.bias)
  np.testing.assert_allclose(np.asarray(jitted(model)(x)), want, rtol=1e-4, atol=1e-5)

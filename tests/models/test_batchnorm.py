"""BatchNorm, the model state beyond parameters (nnx.BatchStat, the model contract): the
step updates its running statistics, evaluation uses them, seeds keep their own, and the
evaluation-mode network equals Ioffe & Szegedy's formula computed with numpy."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from conftest import tiny_config
from lenet_jax.models import sampling
from lenet_jax.models import task as task_lib
from lenet_jax.models.tower_layers import TowerBatchNorm
from lenet_jax.optim import optimizers
from lenet_jax.runs import load, run_record, validation
from lenet_jax.training import seeds as seeds_lib
from lenet_jax.training import steps, train

BATCHNORM = {"model.norm": "batchnorm"}


def _moved_statistics(model, x):
  """`model`'s running statistics after one training-mode call on `x` (a copy moves)."""
  graphdef, state = nnx.split(model)
  moved = nnx.merge(graphdef, state, copy=True)
  moved.train()
  out = moved(x)
  return out, nnx.state(moved, nnx.BatchStat)


def test_tower_batchnorm_is_flax_s_batchnorm_on_each_tower():
  x = sampling.normal(jax.random.key(0), (6, 5, 5, 8)) * 3.0 + 1.0
  towers = TowerBatchNorm(2, 8, momentum=0.9, epsilon=1e-5)
  out, stats = _moved_statistics(towers, x)
  for t in range(2):
    flax_bn = nnx.BatchNorm(4, momentum=0.9, epsilon=1e-5, rngs=nnx.Rngs(0))
    ref_out, ref_stats = _moved_statistics(flax_bn, x[..., 4 * t:4 * (t + 1)])
    np.testing.assert_allclose(out[..., 4 * t:4 * (t + 1)], ref_out, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(stats["mean"][...][t], ref_stats["mean"][...], rtol=1e-5)
    np.testing.assert_allclose(stats["var"][...][t], ref_stats["var"][...], rtol=1e-5)


def _step(config, state=None):
  """(task, state after one training step from `state` or the task's initial state)."""
  task = task_lib.Task(config, validation.validate(config))
  tx = optimizers.create(config, 10)
  state = task_lib.init_state(task, tx) if state is None else state
  images = jnp.asarray(np.random.default_rng(0).integers(0, 256, (16, 28, 28, 1), np.uint8))
  labels = jnp.arange(16, dtype=jnp.int32) % 10
  chunk = steps.make_train_chunk(task, tx)
  new, _, _ = chunk(state, images, labels, jnp.arange(16)[None], jax.random.key(0))
  return task, state, new, images


def test_a_step_moves_the_running_statistics_and_evaluation_uses_them():
  task, before, after, images = _step(tiny_config(**BATCHNORM))
  assert task.has_model_state and "model_state" in after
  moved = [not np.allclose(a, b) for a, b in zip(jax.tree.leaves(after["model_state"]),
                                                  jax.tree.leaves(before["model_state"]))]
  assert all(moved)  # every layer's mean and variance moved towards the batch's
  trained = task.variables(after)
  stale = dict(trained, model_state=before["model_state"])  # the step's params, old statistics
  assert not np.allclose(task.logits(trained, images), task.logits(stale, images), atol=1e-4)
  # Evaluation normalises with the running statistics, not the batch's: an image's logits
  # do not depend on the batch it comes in.
  np.testing.assert_allclose(task.logits(trained, images)[:3], task.logits(trained, images[:3]),
                             rtol=1e-5, atol=1e-5)


def _conv(x, kernel, bias):
  """VALID convolution of NHWC `x` with HWIO `kernel`, in numpy."""
  kh, kw, _, out = kernel.shape
  n, h, w, _ = x.shape
  y = np.zeros((n, h - kh + 1, w - kw + 1, out))
  for i in range(kh):
    for j in range(kw):
      y += np.einsum("nhwc,co->nhwo", x[:, i:i + h - kh + 1, j:j + w - kw + 1], kernel[i, j])
  return y + bias


def _batchnorm(y, layer):
  """Ioffe & Szegedy 2015, algorithm 2 (inference): gamma (y - E[y]) / sqrt(Var[y] + eps)
  + beta, with the running mean and variance."""
  p = lambda v: np.asarray(v[...], np.float64)  # noqa: E731
  return (p(layer.scale) * (y - p(layer.mean)) / np.sqrt(p(layer.var) + layer.epsilon)
          + p(layer.bias))


def test_lenet5_in_evaluation_equals_the_batchnorm_formula_in_numpy():
  # The modern LeNet-5 (relu, max pooling, full C3, dense output) after a step, so that
  # its running statistics are not the initial 0 and 1.
  config = tiny_config(**BATCHNORM, **{"model.implementation": "xla"})
  task, _, after, images = _step(config)
  model = task.model(task.variables(after))
  p = lambda v: np.asarray(v[...], np.float64)  # noqa: E731
  relu = lambda v: np.maximum(v, 0.0)  # noqa: E731
  pool = lambda v: v.reshape(v.shape[0], v.shape[1] // 2, 2, v.shape[2] // 2, 2,  # noqa: E731
                             v.shape[3]).max(axis=(2, 4))
  x = np.asarray(task.prepare(images), np.float64)  # padded to 32x32, normalised
  for conv, pooled in ((model.c1, True), (model.c3, True), (model.c5, False)):
    y = relu(_batchnorm(_conv(x, p(conv.conv.kernel), p(conv.conv.bias)), conv.norm))
    x = pool(y) if pooled else y
  f6 = model.f6
  x = relu(_batchnorm(x.reshape(len(x), -1) @ p(f6.linear.kernel) + p(f6.linear.bias), f6.norm))
  logits = x @ p(model.output.linear.kernel) + p(model.output.linear.bias)
  np.testing.assert_allclose(task.logits(task.variables(after), images), logits, rtol=1e-4,
                             atol=1e-4)


@pytest.mark.parametrize("norm", ["none", "batchnorm"])
def test_batchnorm_sits_on_c1_c3_c5_and_f6(norm):
  task = task_lib.Task(tiny_config(**{"model.norm": norm}),
                       validation.validate(tiny_config(**{"model.norm": norm})))
  stats = nnx.to_flat_state(task.model_state)
  if norm == "none":
    assert not task.has_model_state and not stats
    return
  assert sorted({path[0] for path, _ in stats}) == ["c1", "c3", "c5", "f6"]
  assert {path[-1] for path, _ in stats} == {"mean", "var"}


def test_two_vmapped_seeds_keep_their_own_statistics(tmp_path):
  config = tiny_config(**BATCHNORM, **{
      "data.name": "synthetic", "data.source": "synthetic", "data.synthetic_train_size": 200,
      "data.synthetic_test_size": 50, "data.synthetic_shape": (28, 28, 1)})
  result = train.train_and_evaluate(config, str(tmp_path), seeds=2)
  stacked = result["state"]["model_state"]
  means = [np.asarray(leaf)[k] for k in range(2) for leaf in jax.tree.leaves(stacked)[:1]]
  assert not np.allclose(means[0], means[1])  # each seed's data order and weights: its own
  for k in range(2):  # each seed's run directory holds that seed's statistics
    directory = seeds_lib.seed_dir(str(tmp_path), k)
    _, state, _ = load.load_state(run_record.load_config(directory), directory)
    for mine, stacked_leaf in zip(jax.tree.leaves(state["model_state"]),
                                  jax.tree.leaves(stacked)):
      np.testing.assert_array_equal(mine, np.asarray(stacked_leaf)[k])

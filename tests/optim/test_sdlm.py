import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from conftest import tiny_config
from lenet_jax import data
from lenet_jax.runs import validation
from lenet_jax.optim import optimizers
from lenet_jax.training import steps
from lenet_jax.models import task as task_lib
from lenet_jax.models.losses import cross_entropy, map_loss
from lenet_jax.optim import sdlm


def _tiny_net(params, x):
  h = jnp.tanh(x @ params["w1"] + params["b1"][None])
  return h @ params["w2"]


def _brute_force_diagonal(params, xs, ys, loss):
  flat, unravel = jax.flatten_util.ravel_pytree(params)
  total = jnp.zeros_like(flat)
  for x, y in zip(xs, ys):
    f = lambda w: _tiny_net(unravel(w), x[None])[0]
    jac = jax.jacobian(f)(flat)  # [C, P]
    hess = jax.hessian(lambda z: loss(z[None], y[None]))(f(flat))  # [C, C]
    total = total + jnp.diag(jac.T @ hess @ jac)
  return unravel(total / len(xs))


def _tiny_problem():
  """Parameters of `_tiny_net` (5 -> 7 tanh -> 4), 6 inputs and their labels."""
  k = jax.random.split(jax.random.key(0), 4)
  params = {"w1": jax.random.normal(k[0], (5, 7)), "b1": jax.random.normal(k[1], (7,)),
            "w2": jax.random.normal(k[2], (7, 4))}
  return params, jax.random.normal(k[3], (6, 5)), jnp.array([0, 1, 2, 3, 1, 2])


def test_gauss_newton_diagonal_matches_brute_force():
  import jax.flatten_util  # noqa: F401
  params, xs, ys = _tiny_problem()
  for loss in (cross_entropy, lambda z, y: map_loss(z, y, 0.7)):
    # each side compiled whole (one program, not one per operation)
    got = jax.jit(lambda p, x, y: sdlm.gauss_newton_diagonal(_tiny_net, loss, p, x, y, chunk=4))(
        params, xs, ys)
    want = jax.jit(lambda p, x, y: _brute_force_diagonal(p, x, y, loss))(params, xs, ys)
    for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(want)):
      np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


def test_step_is_eta_over_mu_plus_h():
  params = {"w": jnp.array([1.0, 2.0])}
  tx = sdlm.sdlm(0.5, mu=0.1)
  state = sdlm.with_curvature(tx.init(params), {"w": jnp.array([0.0, 0.9])})
  updates, state = tx.update({"w": jnp.array([1.0, 1.0])}, state, params)
  np.testing.assert_allclose(updates["w"], [-0.5 / 0.1, -0.5 / 1.0], rtol=1e-6)
  assert int(state.count) == 1


def test_with_curvature_reaches_inside_a_chain():
  tx = optax.chain(optax.add_decayed_weights(1e-4), sdlm.sdlm(0.1))
  params = {"w": jnp.zeros(3)}
  state = sdlm.with_curvature(tx.init(params), {"w": jnp.ones(3)})
  np.testing.assert_array_equal(state[1].curvature["w"], jnp.ones(3))


def _sdlm_1998_problem():
  """(task, tx, state before the curvature refresh, 64 embedded digits, their labels, the
  order the refresh reads them in) for the 1998 network with SDLM."""
  from configs import lenet5_1998
  config = lenet5_1998.get_config()
  config.data.source = "embedded"
  config.optimizer = "sdlm"
  # At 2e-4 (the paper's third rate) the loss of these 64 digits rises: most h_kk at
  # this initialisation are far below mu (experiments/lenet5_1998/sdlm_curvature.md),
  # so the steps are about eta / mu; 2e-5 keeps three steps in the descent region.
  config.learning_rate = 2e-5
  config.schedule = "constant"
  resolved = validation.validate(config)
  images, labels = data.load(config.data, resolved, ("train",)).split("train")
  images, labels = jnp.asarray(images[::40][:64]), jnp.asarray(labels[::40][:64])
  task = task_lib.Task(config, resolved)
  tx = optimizers.create(config, 8)
  state = task_lib.init_state(task, tx)
  return task, tx, state, images, labels, jnp.arange(64).reshape(8, 8)


def _layer_means(tree):
  return {".".join(str(p.key) for p in path if hasattr(p, "key")): float(jnp.mean(leaf))
          for path, leaf in jax.tree_util.tree_leaves_with_path(tree)}


def test_a_few_sdlm_steps_lower_the_map_loss_of_the_1998_network():
  task, tx, state, images, labels, order = _sdlm_1998_problem()
  state = steps.make_curvature_refresh(task, 64)(state, images, labels, order)
  # The curvature pinned per layer (mean h_kk of the 64 samples at seed 0's init, jax
  # 0.10.2 CPU): any change to the estimate, its samples or its outputs shows here.
  curvature = _layer_means(_curvature(state["opt_state"]))
  assert set(curvature) == set(GOLDEN_CURVATURE_MEANS)
  for name, mean in GOLDEN_CURVATURE_MEANS.items():
    np.testing.assert_allclose(curvature[name], mean, rtol=1e-3, err_msg=name)
  loss_of = jax.jit(lambda p: task.loss_fn(task.logits({"params": p}, images), labels))
  loss = lambda p: float(loss_of(p))  # noqa: E731
  before = loss(state["params"])
  step = steps.make_train_chunk(task, tx)
  for _ in range(3):
    state, *_ = step(state, images, labels, order, jax.random.key(0))
  assert loss(state["params"]) < before


def _curvature(opt_state):
  found = []
  jax.tree.map(lambda node: found.append(node.curvature) if isinstance(node, sdlm.SDLMState)
               else None, opt_state, is_leaf=lambda n: isinstance(n, sdlm.SDLMState))
  (curvature,) = found
  return curvature


# Recorded from the code, and checked against a second computation below.
GOLDEN_CURVATURE_MEANS = {
    "c1.conv.bias": 3.4998e-4, "c1.conv.kernel": 6.3012e-5, "c3.bias": 5.0222e-3,
    "c3.kernel": 1.4267e-3, "c5.conv.bias": 3.8754e-2, "c5.conv.kernel": 5.5921e-3,
    "f6.linear.bias": 2.6168, "f6.linear.kernel": 2.5532e-3, "s2.bias": 1.5972e-4,
    "s2.coefficient": 4.2859e-5, "s4.bias": 1.7339e-3, "s4.coefficient": 1.1398e-4,
}


def test_golden_curvature_means_equal_a_brute_force_gauss_newton_diagonal():
  # The pinned means computed another way: each sample's full Jacobian of the outputs
  # (F6's 84 states) and the loss's Hessian, diag(J^T H J) summed term by term, where
  # the estimate uses H's eigenvectors and one vector-Jacobian product per eigenvector.
  task, _, state, images, labels, order = _sdlm_1998_problem()
  index = order.reshape(-1)[:64]

  def one(x, y):
    outputs = lambda p: task.curvature_outputs(p, x[None])[0]  # noqa: E731
    jacobian = jax.jacrev(outputs)(state["params"])  # leaves [C, *shape]
    hessian = jax.hessian(lambda z: task.curvature_loss(z[None], y[None]))(
        outputs(state["params"]))
    return jax.tree.map(lambda j: jnp.einsum("c...,cd,d...->...", j, hessian, j), jacobian)

  brute = jax.jit(lambda xs, ys: jax.tree.map(
      lambda d: d.mean(0), jax.lax.map(lambda xy: one(*xy), (xs, ys))))(
          images[index], labels[index])
  means = _layer_means(brute)
  assert set(means) == set(GOLDEN_CURVATURE_MEANS)
  for name, mean in GOLDEN_CURVATURE_MEANS.items():
    np.testing.assert_allclose(means[name], mean, rtol=1e-3, err_msg=name)


def test_piecewise_schedule_boundaries():
  config = tiny_config(schedule="piecewise", learning_rate=0.0005,
                       piecewise_epochs=(2, 5, 8, 12),
                       piecewise_values=(0.0002, 0.0001, 0.00005, 0.00001))
  lr = optimizers.schedule(config, steps_per_epoch=10)
  expected = {0: 5e-4, 19: 5e-4, 20: 2e-4, 49: 2e-4, 50: 1e-4, 79: 1e-4, 80: 5e-5, 119: 5e-5,
              120: 1e-5, 199: 1e-5}
  for step, value in expected.items():
    np.testing.assert_allclose(float(lr(step)), value, rtol=1e-6, err_msg=str(step))
  config.learning_rate_per_sample = True
  config.batch_size = 4
  np.testing.assert_allclose(float(optimizers.schedule(config, 10)(20)), 8e-4, rtol=1e-6)


def _paper_brute_force_dense(w1, b1, w2, xs, ys, loss):
  """Appendix C's recursion written out with loops, for x -> tanh(x W1 + b1) W2."""
  w1, b1, w2, xs = (np.asarray(a, np.float64) for a in (w1, b1, w2, xs))
  h = {"w1": np.zeros_like(w1), "b1": np.zeros_like(b1), "w2": np.zeros_like(w2)}
  hessian = jax.jit(jax.hessian(lambda o, y: loss(o[None], y[None])))  # d2E/dz2, compiled once
  for x, y in zip(xs, ys):
    a1 = x @ w1 + b1
    x2 = np.tanh(a1)
    z = x2 @ w2
    d2_z = np.diag(np.asarray(hessian(jnp.asarray(z, jnp.float32), y)))
    for j in range(w2.shape[0]):
      for k in range(w2.shape[1]):
        h["w2"][j, k] += d2_z[k] * x2[j] ** 2  # eq. 21: d2E/da_k^2 x_j^2
    d2_x2 = np.array([sum(w2[j, k] ** 2 * d2_z[k] for k in range(w2.shape[1]))
                      for j in range(w2.shape[0])])
    d2_a1 = (1 - np.tanh(a1) ** 2) ** 2 * d2_x2  # eq. 22, Gauss-Newton
    for i in range(w1.shape[0]):
      for j in range(w1.shape[1]):
        h["w1"][i, j] += d2_a1[j] * x[i] ** 2
    h["b1"] += d2_a1
  return {k: v / len(xs) for k, v in h.items()}


class _Stage:
  def __init__(self, weights, activation, bias=None):
    self.weights, self.bias, self.activation = weights, bias, activation

  def pre_activation(self, x):
    return x @ self.weights + (0 if self.bias is None else self.bias[None])


def test_paper_diagonal_matches_the_recursion_written_out():
  params, xs, ys = _tiny_problem()
  stages = lambda p: [_Stage(p["w1"], jnp.tanh, p["b1"]), _Stage(p["w2"], None)]  # noqa: E731
  for loss in (cross_entropy, lambda z, y: map_loss(z, y, 0.7)):
    got = jax.jit(lambda p, x, y: sdlm.paper_diagonal(stages, loss, p, x, y, chunk=4))(
        params, xs, ys)
    want = _paper_brute_force_dense(params["w1"], params["b1"], params["w2"], xs, ys, loss)
    for name in want:
      np.testing.assert_allclose(got[name], want[name], rtol=1e-4, atol=1e-7, err_msg=name)
    # The last layer's is exact (no cross terms there); the hidden one's is not.
    exact = jax.jit(lambda p, x, y: sdlm.gauss_newton_diagonal(
        lambda p, x: stages(p)[1].pre_activation(jnp.tanh(stages(p)[0].pre_activation(x))),
        loss, p, x, y))(params, xs, ys)
    np.testing.assert_allclose(got["w2"], exact["w2"], rtol=1e-4, atol=1e-7)
    assert not np.allclose(got["w1"], exact["w1"], rtol=1e-2)


def test_paper_diagonal_sums_a_shared_weight_over_its_connections():
  """A 1-D convolution's weight is shared by every output position (eq. 23)."""
  x = jax.random.normal(jax.random.key(1), (3, 8))
  w = jnp.array([0.5, -1.0, 0.25])

  class Conv1D:
    activation = None

    def __init__(self, w):
      self.w = w

    def pre_activation(self, v):
      return jnp.stack([v[:, i:i + 6] * self.w[i] for i in range(3)]).sum(0)

  loss = lambda z, y: 0.5 * jnp.sum(z ** 2)  # noqa: E731  d2E/dz^2 = 1 for every output
  got = sdlm.paper_diagonal(lambda p: [Conv1D(p["w"])], loss, {"w": w}, x, jnp.zeros(3))
  want = [np.mean([sum(float(x[n, t + i]) ** 2 for t in range(6)) for n in range(3)])
          for i in range(3)]
  np.testing.assert_allclose(got["w"], want, rtol=1e-5)


@pytest.mark.full_xla  # an epoch of the 1998 network, batch 16: execution repays optimisation
def test_paper_curvature_trains_the_1998_network(tmp_path):
  from configs import lenet5_1998
  from lenet_jax.runs import metrics
  from lenet_jax.training import train
  config = lenet5_1998.get_config("runlocal,curvature=paper")
  config.data.source = "embedded"
  config.num_epochs = 1
  train.train_and_evaluate(config, str(tmp_path))
  # 0.82 here; 0.68 with the curvature 1000x too large, 0.10 at 1e6x
  # (experiments/accuracy_floors). A zero curvature (steps of eta / mu) reaches 0.82 too
  # in one epoch: the estimate's values are pinned by the paper-diagonal tests above.
  assert metrics.read(str(tmp_path))[0]["test_accuracy"] > 0.75

"""The compiled pieces of training: a chunk of steps, SDLM's curvature and the epoch's
data order (evaluation: `lenet_jax.runs.scores`; the metric sums: `lenet_jax.runs.metrics`)."""

import functools

import jax
import jax.numpy as jnp
import optax

from lenet_jax.optim import sdlm
from lenet_jax.runs.metrics import NO_STEP


def make_train_chunk(task, tx, loss_and_grads=None, *, seeds=False, shared_order=False):
  """jit(state, images, labels, batch_index [k, B], key) -> (state, summed metrics, losses [k]).

  The state holds the model's variables (parameters, and the trained state of a model
  with BatchNorm, updated by each step) and the optimizer's. `loss_and_grads` defaults
  to the single-device `task.loss_and_grads`;
  `lenet_jax.parallel` supplies the tower-parallel one. With `seeds`, the state,
  key and outputs carry a leading seed axis and all seeds train in one program
  (`jax.vmap`); `batch_index` has that axis too unless `shared_order`.
  """
  loss_and_grads = loss_and_grads or task.loss_and_grads

  def train_step(images, labels, key, state, index):
    x, y = images[index], labels[index]
    step_key = jax.random.fold_in(key, state["step"])
    loss, correct, grads, model_state = loss_and_grads(task.variables(state), x, y, step_key)
    updates, opt_state = tx.update(grads, state["opt_state"], state["params"])
    params = optax.apply_updates(state["params"], updates)
    batch = y.shape[0]
    finite = jnp.isfinite(loss) & jnp.all(jnp.array(
        [jnp.all(jnp.isfinite(g)) for g in jax.tree.leaves(grads)]))
    sums = {"loss": loss * batch, "correct": correct.astype(jnp.int32),
            "count": jnp.asarray(batch, jnp.int32),
            "first_nonfinite": jnp.where(finite, NO_STEP, state["step"] + 1).astype(jnp.int32)}
    new = {"params": params, "opt_state": opt_state, "step": state["step"] + 1}
    if task.has_model_state:  # BatchNorm's running statistics, as the step left them
      new["model_state"] = model_state
    return new, sums

  def train_chunk(state, images, labels, batch_index, key):
    step = functools.partial(train_step, images, labels, key)
    if batch_index.shape[0] == 1:
      state, sums = step(state, batch_index[0])
      return state, sums, sums["loss"][None] / sums["count"]
    state, sums = jax.lax.scan(step, state, batch_index)
    losses = sums["loss"] / sums["count"]
    first_nonfinite = sums.pop("first_nonfinite").min()
    sums = jax.tree.map(lambda s: s.sum(0), sums)
    return state, dict(sums, first_nonfinite=first_nonfinite), losses

  if seeds:
    train_chunk = jax.vmap(train_chunk, in_axes=(0, None, None, None if shared_order else 0, 0))
  donate = (0,) if jax.default_backend() != "cpu" else ()  # CPU cannot donate
  return jax.jit(train_chunk, donate_argnums=donate)


def make_curvature_refresh(task, samples: int):
  """jit(state, images, labels, order) -> state with SDLM's curvature re-estimated.

  The estimate uses the first `samples` images of the epoch's order, undistorted;
  `config.sdlm.curvature` picks the exact Gauss-Newton diagonal or the paper's.
  """

  paper = task.config.sdlm.curvature == "paper"

  def refresh(state, images, labels, order):
    index = order.reshape(-1)[:samples]
    if paper:  # the paper's back-propagated estimate (appendix C, eqs. 21-23)
      curvature = sdlm.paper_diagonal(task.curvature_stages, task.curvature_loss,
                                      state["params"], task.prepare(images[index]),
                                      labels[index])
    else:
      curvature = sdlm.gauss_newton_diagonal(
          task.curvature_outputs, task.curvature_loss, state["params"], images[index],
          labels[index])
    return dict(state, opt_state=sdlm.with_curvature(state["opt_state"], curvature))

  return jax.jit(refresh)


def epoch_order(key, epoch, n, batch_size):
  """The epoch's batches as an index array [steps, batch]; the last partial batch is dropped."""
  steps = n // batch_size
  perm = jax.random.permutation(jax.random.fold_in(key, epoch), n)
  return perm[: steps * batch_size].reshape(steps, batch_size)


def chunks(total, size, first=0):
  return [(start, min(start + size, total)) for start in range(first, total, size)]

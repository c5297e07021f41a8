"""The compiled pieces of training: a chunk of steps, evaluation, SDLM's curvature,
the epoch's data order, and the metric sums they carry."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax

from lenet_jax import models
from lenet_jax.optim import sdlm

NO_STEP = np.iinfo(np.int32).max  # "no non-finite step yet"


def make_train_chunk(task, tx, loss_and_grads=None, *, seeds=False, shared_order=False):
  """jit(state, images, labels, batch_index [k, B], key) -> (state, summed metrics, losses [k]).

  `loss_and_grads` defaults to the single-device `task.loss_and_grads`;
  `lenet_jax.parallel` supplies the tower-parallel one. With `seeds`, the state,
  key and outputs carry a leading seed axis and all seeds train in one program
  (`jax.vmap`); `batch_index` has that axis too unless `shared_order`.
  """
  loss_and_grads = loss_and_grads or task.loss_and_grads

  def train_step(images, labels, key, state, index):
    x, y = images[index], labels[index]
    step_key = jax.random.fold_in(key, state["step"])
    loss, correct, grads = loss_and_grads(state["params"], x, y, step_key)
    updates, opt_state = tx.update(grads, state["opt_state"], state["params"])
    params = optax.apply_updates(state["params"], updates)
    batch = y.shape[0]
    finite = jnp.isfinite(loss) & jnp.all(jnp.array(
        [jnp.all(jnp.isfinite(g)) for g in jax.tree.leaves(grads)]))
    sums = {"loss": loss * batch, "correct": correct.astype(jnp.int32),
            "count": jnp.asarray(batch, jnp.int32),
            "first_nonfinite": jnp.where(finite, NO_STEP, state["step"] + 1).astype(jnp.int32)}
    return {"params": params, "opt_state": opt_state, "step": state["step"] + 1}, sums

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


def make_evaluate(task, batch_size):
  """jit(params, images, labels) -> {loss, accuracy} over a whole split (padded batches,
  masked), and top5_accuracy (the label among the 5 highest logits) for more than 5
  classes, the ImageNet papers' second metric."""
  top5 = task.spec.num_classes > 5

  def evaluate(params, images, labels):
    n = labels.shape[0]
    steps = -(-n // batch_size)
    pad = steps * batch_size - n
    images = jnp.pad(images, ((0, pad),) + ((0, 0),) * (images.ndim - 1))
    labels = jnp.pad(labels, (0, pad))
    mask = jnp.arange(steps * batch_size) < n
    batches = (images.reshape((steps, batch_size) + images.shape[1:]),
               labels.reshape(steps, batch_size), mask.reshape(steps, batch_size))

    def body(sums, batch):
      x, y, m = batch
      logits = task.logits(params, x)
      per_example = jax.vmap(task.loss_fn)(logits[:, None], y[:, None])
      new = {"loss": sums["loss"] + jnp.sum(per_example * m),
             "correct": sums["correct"] + jnp.sum((jnp.argmax(logits, -1) == y) & m)}
      if top5:  # fewer than 5 classes score higher than the label's
        label_logit = jnp.take_along_axis(logits, y[:, None], axis=-1)
        in_top5 = jnp.sum(logits > label_logit, axis=-1) < 5
        new["top5"] = sums["top5"] + jnp.sum(in_top5 & m)
      return new, None

    zero = {"loss": jnp.zeros(()), "correct": jnp.zeros((), jnp.int32)}
    if top5:
      zero["top5"] = jnp.zeros((), jnp.int32)
    sums, _ = jax.lax.scan(body, zero, batches)
    out = {"loss": sums["loss"] / n, "accuracy": sums["correct"] / n}
    if top5:
      out["top5_accuracy"] = sums["top5"] / n
    return out

  return jax.jit(evaluate)


def make_curvature_refresh(task, samples: int):
  """jit(state, images, labels, order) -> state with SDLM's curvature re-estimated.

  The estimate uses the first `samples` images of the epoch's order, undistorted;
  `config.sdlm.curvature` picks the exact Gauss-Newton diagonal or the paper's.
  """

  paper = task.config.get("sdlm", {}).get("curvature", "exact") == "paper"

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


def steps_per_scan(config) -> int:
  """Steps compiled into one `lax.scan`; 0 picks per backend and model.

  Accelerators scan 100 steps per dispatch. On a CPU, XLA runs its convolutions
  inside a loop body about 2.5x slower than as separate dispatches (measured on
  LeNet-5, batch 128; AlexNet, batch 32: 14x; experiments/benchmarks), so
  models that use them (AlexNet, LeNet-5 with
  `implementation='xla'`) dispatch one step at a time; LeNet-5's matmul
  implementation has no convolution ops and scans 20 steps (15-30% more
  images/s than single steps in the step benchmark, about the same in a
  training epoch of the embedded digits).
  """
  if config.steps_per_scan:
    return config.steps_per_scan
  if jax.default_backend() != "cpu":
    return 100
  matmul = config.model.name in models.LENETS and models.implementation(config.model) == "matmul"
  return 20 if matmul else 1


def epoch_order(key, epoch, n, batch_size):
  """The epoch's batches as an index array [steps, batch]; the last partial batch is dropped."""
  steps = n // batch_size
  perm = jax.random.permutation(jax.random.fold_in(key, epoch), n)
  return perm[: steps * batch_size].reshape(steps, batch_size)


def chunks(total, size, first=0):
  return [(start, min(start + size, total)) for start in range(first, total, size)]


def zero_sums():
  return {"loss": jnp.zeros((), jnp.float32), "correct": jnp.zeros((), jnp.int32),
          "count": jnp.zeros((), jnp.int32), "first_nonfinite": jnp.asarray(NO_STEP, jnp.int32)}


def merge_sums(a, b):
  return {"loss": a["loss"] + b["loss"], "correct": a["correct"] + b["correct"],
          "count": a["count"] + b["count"],
          "first_nonfinite": jnp.minimum(a["first_nonfinite"], b["first_nonfinite"])}

"""Scoring a model on a test split: the compiled evaluation, its sums over a stream of
batches, the fields metrics.jsonl records, and the one line that states them (the
training loop's epoch line and evaluate's result use it alike)."""

import jax
import jax.numpy as jnp
import numpy as np

from lenet_jax.data import device_prefetch


def make_evaluate(task, batch_size):
  """jit(variables, images, labels) -> {loss, accuracy} over a whole split (padded batches,
  masked), and top5_accuracy (the label among the 5 highest logits) for more than 5
  classes, the ImageNet papers' second metric."""
  top5 = task.spec.num_classes > 5

  def evaluate(variables, images, labels):
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
      logits = task.logits(variables, x)
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


def stream_scores(evaluate, stream, place, ahead: int = 0) -> dict:
  """{loss, accuracy[, top5_accuracy]} of `evaluate(images, labels)` over every batch of a
  test stream (each value an array where `evaluate` gives one per seed), each process
  scoring its rows of each batch (placed `ahead` batches in advance; in the loop when
  processes gather their rows, a collective kept in the main thread)."""
  ahead = ahead if jax.process_count() == 1 else 0
  sums, count = {}, 0
  for images, labels in device_prefetch.placed(stream.epoch(0), _gathered(place), ahead):
    n = labels.shape[0]
    scores = jax.device_get(evaluate(images, labels))
    sums = {k: sums.get(k, 0.0) + np.asarray(v, np.float64) * n for k, v in scores.items()}
    count += n
  return {k: v / count for k, v in sums.items()}


def _gathered(place):
  """`place` for rows that differ between processes: every process's rows, in
  process order, then placed (a test batch scored as a whole)."""
  if jax.process_count() == 1:
    return place
  from jax.experimental import multihost_utils
  return lambda x: place(multihost_utils.process_allgather(np.asarray(x), tiled=True))


def test_fields(scores, index=None) -> dict:
  """{test_loss, test_accuracy[, test_top5_accuracy]} of `make_evaluate`'s scores (of seed
  `index` where they carry a seed axis), as metrics.jsonl records them."""
  pick = (lambda v: v) if index is None else (lambda v: np.asarray(v)[index])
  return {f"test_{key}": float(pick(scores[key]))
          for key in ("loss", "accuracy", "top5_accuracy") if key in scores}


def score_text(record: dict) -> str:
  """'test loss 0.0812 acc 0.9735 (error 2.65%, top-5 error 0.41%)' of a record's test fields."""
  top5 = (f", top-5 error {100 * (1 - record['test_top5_accuracy']):.2f}%"
          if "test_top5_accuracy" in record else "")
  return (f"test loss {record['test_loss']:.4f} acc {record['test_accuracy']:.4f} "
          f"(error {100 * (1 - record['test_accuracy']):.2f}%{top5})")

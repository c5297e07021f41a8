"""The training loop: `train_and_evaluate(config, workdir)`.

The model is split once into a graph definition and state (`lenet_jax.task`);
every step is a pure function of that state (`lenet_jax.steps`). Small datasets
live on the device as uint8; each epoch is shuffled there and run as `lax.scan`
over chunks of `config.steps_per_scan` steps, with metrics summed on the device,
so there is no per-step host work.
"""

import contextlib
import dataclasses
import functools
import os
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax
from absl import logging

from lenet_jax import (checkpoint, data, metrics, optimizers, parallel, preemption, pretrained,
                       progress, run_record, steps, summary, validation)
from lenet_jax import task as task_lib
from lenet_jax.data import device_prefetch, prepared, preprocess, streaming
from lenet_jax.errors import ConfigError, UserError


class DivergenceError(UserError):
  """The loss became NaN or Inf."""


def load_state(config, workdir):
  """(step, training state, task) of the last checkpoint in `workdir`, for `config`'s model."""
  spec = validation.validate(config)
  task = task_lib.Task(config, spec)
  if not os.path.isdir(os.path.join(workdir, "checkpoints")):
    raise UserError(f"{workdir} holds no checkpoints/; train first with lenet_jax.main")
  ckpt = checkpoint.Checkpointer(workdir, config.checkpoint_keep)
  try:
    like = {"train": task_lib.init_state(task, optimizers.create(config, 1)),
            "partial": steps.zero_sums()}
    step, state = ckpt.restore_latest(like)
    if step is None:
      raise UserError(f"{ckpt.directory} holds no checkpoint; train first with lenet_jax.main")
    return step, state["train"], task
  finally:
    ckpt.close()


@dataclasses.dataclass
class Run:
  """What a training run is made of, before any step: data on the device, the task,
  the optimizer and the compiled evaluation."""
  spec: data.DatasetSpec
  dataset: data.Dataset
  task: task_lib.Task
  train_images: jax.Array | None  # resident datasets; None when streamed
  train_labels: jax.Array | None
  test_images: jax.Array | None
  test_labels: jax.Array | None
  steps_per_epoch: int
  tx: optax.GradientTransformation
  evaluate: object  # jit(params, images, labels) -> {loss, accuracy}
  learning_rate: object  # the schedule, for the log
  streams: tuple | None = None  # (train, test) `streaming.Stream`s of a streamed dataset
  device_prefetch: int = 0  # streamed batches placed this many ahead (`device_prefetch`)
  changed: dict = dataclasses.field(default_factory=dict)  # resumable keys this invocation changes

  @property
  def n_train(self) -> int:
    if self.streams is not None:
      return self.steps_per_epoch * self.streams[0].batch_size * jax.process_count()
    return self.train_labels.shape[0]

  def dispatches(self, config, epoch, offset, order, place=jax.device_put,
                 place_rows=jax.device_put):
    """(first step, end step, images, labels, batch index) of each compiled call of
    the epoch from step `offset` on: slices of the resident data's order ([steps,
    batch], or [seeds, steps, batch]), or streamed batches one step at a time."""
    if self.streams is None:
      for start, stop in steps.chunks(self.steps_per_epoch, steps.steps_per_scan(config), offset):
        yield start, stop, self.train_images, self.train_labels, order[..., start:stop, :]
      return
    rows = place(np.arange(config.batch_size)[None])  # the batch as it comes
    batches = device_prefetch.placed(self.streams[0].epoch(epoch, skip=offset), place_rows,
                                     self.device_prefetch)
    for i, (images, labels) in enumerate(batches, offset):
      yield i, i + 1, images, labels, rows

  def test_scores(self, params, place) -> dict:
    """{loss, accuracy} on the whole test split."""
    if self.streams is None:
      return jax.device_get(self.evaluate(params, self.test_images, self.test_labels))
    return stream_scores(functools.partial(self.evaluate, params), self.streams[1], place,
                         self.device_prefetch)


def prepare(config, workdir: str, place=jax.device_put) -> Run:
  """Validates `config` (and, for a run already in `workdir`, that a resume changes
  only resumable keys), then loads its data onto the device(s) with `place` (or
  opens its streams). Writes nothing: `run_record.record_start` does, once
  training is about to start."""
  spec = validation.validate(config)
  changed = run_record.check_resume(workdir, config)
  if spec.streamed:
    if config.optimizer == "sdlm":
      raise ConfigError("optimizer", "sdlm", f"SDLM needs a resident dataset, {spec.name} is "
                        "streamed; use sgd, adam or adamw")
    streams, dataset = open_streams(config, spec), streamed_dataset(config, spec)
  else:
    streams, dataset = None, data.load(config.data, ("train", "test"))
  task = task_lib.Task(config, spec)
  logging.info("model %s on %s, input %s:\n%s", config.model.name, spec.name, task.input_shape,
               summary.format_table(summary.rows(task.model(task.params), task.input_shape),
                                    task.input_shape))
  if streams is not None:
    arrays = dict.fromkeys(("train_images", "train_labels", "test_images", "test_labels"))
    steps_per_epoch, eval_batch = streams[0].num_batches, config.eval_batch_size
  else:
    splits = {split: dataset.split(split) for split in ("train", "test")}
    if fixed_distortions(config):
      splits["train"] = distorted_set(config, *splits["train"])
    arrays = {f"{split}_{kind}": place(a) for split, pair in splits.items()
              for kind, a in zip(("images", "labels"), pair)}
    n_train = arrays["train_labels"].shape[0]
    if n_train < config.batch_size:
      raise ConfigError("batch_size", config.batch_size,
                        f"larger than the {n_train} training images of {spec.name}")
    steps_per_epoch = n_train // config.batch_size
    eval_batch = min(config.eval_batch_size, arrays["test_labels"].shape[0])
  return Run(spec=spec, dataset=dataset, task=task, steps_per_epoch=steps_per_epoch,
             tx=optimizers.create(config, steps_per_epoch),
             evaluate=steps.make_evaluate(task, eval_batch),
             learning_rate=optimizers.schedule(config, steps_per_epoch), streams=streams,
             device_prefetch=device_prefetch.ahead(config.data),
             changed=changed, **arrays)


def open_streams(config, spec):
  """(training stream, test stream) of a dataset read batch by batch: a prepared set
  (`lenet_jax.data.prepared`) or JPEGs streamed from TFDS (`lenet_jax.data.streaming`)."""
  if spec.stored_side:
    return prepared.streams(config, spec)
  if config.data.source == "folder":
    raise UserError("an image folder is not read during training: prepare it once with "
                    "python -m lenet_jax.prepare --config.data.source=folder --out=DIR, then "
                    "train with --config.data.source=prepared --config.data.dir=DIR")
  return streaming.streams(config, spec)


def streamed_dataset(config, spec) -> data.Dataset:
  """What a streamed dataset's run records as its data: a prepared set's directory or
  the TFDS name (no splits held)."""
  if spec.stored_side:
    return data.Dataset(spec=spec, source="prepared", location=os.path.abspath(config.data.dir),
                        splits={})
  return data.Dataset(spec=spec, source="tfds", location=spec.tfds_name, splits={})


def stream_scores(evaluate, stream, place, ahead: int = 0) -> dict:
  """{loss, accuracy[, top5_accuracy]} of `evaluate` over every batch of a test stream,
  each process scoring its rows of each batch (placed `ahead` batches in advance; in
  the loop when processes gather their rows, a collective kept in the main thread)."""
  ahead = ahead if jax.process_count() == 1 else 0
  sums, count = {}, 0
  for images, labels in device_prefetch.placed(stream.epoch(0), parallel.gathered(place), ahead):
    n = labels.shape[0]
    scores = jax.device_get(evaluate(images, labels))
    sums = {k: sums.get(k, 0.0) + float(v) * n for k, v in scores.items()}
    count += n
  return {k: v / count for k, v in sums.items()}


def fixed_distortions(config) -> bool:
  distort = config.get("distortions")
  return bool(distort is not None and distort.enabled
              and distort.get("protocol", "online") == "fixed")


def distorted_set(config, images, labels):
  """The paper's fixed distorted training set (`distortions.fixed_copies`), drawn once
  from the run's seed."""
  from lenet_jax.data import distortions
  d = config.distortions
  ranges = distortions.ranges_of(d)
  padded = preprocess.pad(jnp.asarray(images), preprocess.pad_size(config.data))
  made, labels = distortions.fixed_copies(jax.random.key(config.seed + 3), padded, labels,
                                          d.copies, ranges)
  logging.info("distortions: the paper's fixed protocol, %d originals and %d distorted copies "
               "of each, made once", len(images), d.copies)
  return np.asarray(made), np.asarray(labels)


def curvature_refresh(config, run: Run):
  """SDLM's compiled curvature re-estimate, or None for other optimizers."""
  if config.optimizer != "sdlm":
    return None
  return steps.make_curvature_refresh(run.task, min(config.sdlm.samples, run.n_train))


def refreshes_curvature(config, epoch: int) -> bool:
  return config.optimizer == "sdlm" and (epoch - 1) % config.sdlm.period_epochs == 0


def divergence_message(first_bad_step, epoch, ckpt) -> str:
  good = ckpt.latest_step()
  return (f"the loss or gradients became NaN or Inf at step {int(first_bad_step)} "
          f"(epoch {epoch}); last good checkpoint: "
          + (f"step {good} in {ckpt.directory}" if good is not None else "none")
          + "; lower config.learning_rate, or set config.debug_nans=True to find the cause")


def train_and_evaluate(config, workdir: str) -> dict:
  """Trains `config` in `workdir`, resuming from its last checkpoint; returns a summary.

  Writes `config.json`, `metrics.jsonl` (one JSON object per epoch), TensorBoard
  event files and orbax checkpoints into `workdir`.

  Across several processes (`config.parallel.distributed`), every process runs
  this function: each reads the (small, resident) dataset and places it on every
  device of the mesh, each device trains on its rows of each batch, and only
  process 0 prints and writes files; orbax writes the checkpoints jointly.
  """
  parallel.initialize_distributed(config)
  main = parallel.is_main_process()
  say = functools.partial(print, flush=True) if main else (lambda *a, **k: None)
  # On a mesh, host values go to every device as global arrays, so that any
  # process can feed the compiled steps; on one device, to that device.
  place = parallel.replicated(config) if parallel.is_parallel(config) else jax.device_put
  place_rows = parallel.rows_sharded(config) if parallel.is_parallel(config) else jax.device_put
  run = prepare(config, workdir, place)
  task, train_images, train_labels = run.task, run.train_images, run.train_labels
  n_train, steps_per_epoch, tx = run.n_train, run.steps_per_epoch, run.tx
  initial = task_lib.init_state(task, tx)
  if config.get("init_from") and not os.path.isfile(os.path.join(workdir, run_record.CONFIG)):
    initial = pretrained.initialize_from(task, tx, initial, config.init_from, say)
  state, loss_and_grads = parallel.setup(task, config, initial)
  if loss_and_grads is not None:
    d, m = parallel.sizes(config)
    say(f"parallel: {d} data x {m} model devices ({config.parallel.backend}) of "
        f"{jax.device_count()} {jax.devices()[0].platform} devices in {jax.process_count()} "
        f"process{'es' if jax.process_count() > 1 else ''}")
  train_chunk = steps.make_train_chunk(task, tx, loss_and_grads)
  refresh_curvature = curvature_refresh(config, run)
  learning_rate = run.learning_rate
  data_key = jax.random.key(config.seed + 1)
  dropout_key = place(jax.random.key(config.seed + 2))
  new_run = not os.path.isfile(os.path.join(workdir, run_record.CONFIG))
  if new_run and main:
    run_record.record_start(workdir, config, run.dataset, run.changed)

  ckpt = checkpoint.Checkpointer(workdir, config.checkpoint_keep)
  zero_sums = jax.tree.map(place, steps.zero_sums())  # global arrays, for the checkpoints
  # `partial`: the metric sums of an epoch interrupted by a signal.
  last, restored = ckpt.restore_latest({"train": state, "partial": zero_sums}, set_aside=main,
                                       say=say)
  state, partial = restored["train"], restored["partial"]
  done_steps = int(state["step"])
  start_epoch, offset = done_steps // steps_per_epoch + 1, done_steps % steps_per_epoch
  history = metrics.truncate(workdir, start_epoch - 1, done_steps) if main else []
  finished = start_epoch > config.num_epochs
  if last is not None and not finished:
    say(f"Resuming from the checkpoint at step {done_steps} (epoch {start_epoch}"
          + (f", step {offset} of {steps_per_epoch}" if offset else "")
          + f") in {ckpt.directory}")
  if not new_run and not finished and main:
    run_record.record_start(workdir, config, run.dataset, run.changed)

  writer = metrics.MetricWriter(workdir) if main else None
  try:
    with preemption.StopSignals() as stop:
      if stop.signum is not None and not finished:
        raise stop.stopped(
            "during start-up; nothing was trained"
            + (f"; the checkpoint at step {done_steps} is unchanged" if last is not None else ""))
      for epoch in range(start_epoch, config.num_epochs + 1):
        order = None
        if run.streams is None:
          order = steps.epoch_order(data_key, epoch, n_train, config.batch_size)
          if parallel.is_parallel(config):
            order = place(jax.device_get(order))
        if not offset and refreshes_curvature(config, epoch):
          state = refresh_curvature(state, train_images, train_labels, order)
        bar = progress.step_bar(steps_per_epoch - offset, f"epoch {epoch}") if main else None
        t0 = time.perf_counter()
        sums = partial if offset else zero_sums
        images_before = offset * config.batch_size  # trained before a stop signal
        losses_of_epoch = []
        first_step = (epoch - 1) * steps_per_epoch + offset + 1  # of this dispatch loop
        # closed on leaving (a stop signal raises out of it): no reading thread outlives it
        with contextlib.closing(run.dispatches(config, epoch, offset, order, place,
                                               place_rows)) as dispatches:
          for start, stop_at, images, labels, index in dispatches:
            state, chunk_sums, step_losses = train_chunk(state, images, labels, index, dropout_key)
            sums = steps.merge_sums(sums, chunk_sums)
            if config.get("log_step_losses"):
              losses_of_epoch.append(step_losses)
            if bar is not None:
              bar.dispatched(chunk_sums["count"], stop_at - start)
            if stop.signum is not None and stop_at < steps_per_epoch:
              if losses_of_epoch and main:
                metrics.write_step_losses(workdir, first_step,
                                          np.concatenate(jax.device_get(losses_of_epoch)))
              ckpt.save(int(state["step"]), {"train": state, "partial": sums})
              raise stop.saved(f"at step {int(state['step'])} (epoch {epoch})", ckpt.directory)
        offset = 0
        sums = jax.device_get(sums)  # the one sync of the epoch
        train_seconds = time.perf_counter() - t0
        if bar is not None:
          bar.close()
        train_loss = float(sums["loss"] / sums["count"])
        if sums["first_nonfinite"] < steps.NO_STEP or not np.isfinite(train_loss):
          raise DivergenceError(divergence_message(sums["first_nonfinite"], epoch, ckpt))
        test = run.test_scores(state["params"], place)
        seconds = time.perf_counter() - t0
        record = {
            "epoch": epoch, "step": int(state["step"]), "train_loss": train_loss,
            "train_accuracy": float(sums["correct"] / sums["count"]),
            **metrics.test_fields(test),
            "images_per_sec": float((sums["count"] - images_before) / train_seconds),
            "learning_rate": float(learning_rate(state["step"] - 1)),
            "seconds": seconds,
        }
        top5 = (f" top-5 {record['test_top5_accuracy']:.4f}"
                if "test_top5_accuracy" in record else "")
        say(f"epoch {epoch:3d}/{config.num_epochs}  train loss {record['train_loss']:.4f} "
            f"acc {record['train_accuracy']:.4f}  test loss {record['test_loss']:.4f} "
            f"acc {record['test_accuracy']:.4f}{top5}  {record['images_per_sec']:,.0f} img/s  "
            f"{seconds:.1f}s")
        if writer is not None:
          writer.write(record)
        if losses_of_epoch and main:
          metrics.write_step_losses(workdir, first_step,
                                    np.concatenate(jax.device_get(losses_of_epoch)))
        history.append(record)
        ckpt.save(int(state["step"]), {"train": state, "partial": zero_sums})
        if stop.signum is not None and epoch < config.num_epochs:
          raise stop.saved(f"at the end of epoch {epoch} (step {int(state['step'])})",
                           ckpt.directory)
  finally:
    if writer is not None:
      writer.close()
    ckpt.close()

  if not main:
    return {"state": state, "data_source": run.dataset.source, "epochs": len(history)}
  if not history:
    raise UserError(f"{workdir} holds a checkpoint but no metrics.jsonl; use a new --workdir")
  if finished and last is not None:
    say(f"{workdir} already holds all {config.num_epochs} epochs; nothing to train")
  best = max(history, key=lambda r: r["test_accuracy"])
  result = {"best_test_accuracy": best["test_accuracy"], "best_epoch": best["epoch"],
            "last_test_accuracy": history[-1]["test_accuracy"], "epochs": len(history),
            "data_source": run.dataset.source, "state": state}
  say(f"done: best test accuracy {best['test_accuracy']:.4f} (epoch {best['epoch']}), "
      f"last {history[-1]['test_accuracy']:.4f}; workdir {workdir}")
  return result

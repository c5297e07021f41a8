"""The training loop: `train_and_evaluate(config, workdir, seeds=None)`.

One loop trains a single run (`lenet_jax.main`) and the seeds of a sweep cell
(`lenet_jax.sweep`): the seeds are an axis of the state (`lenet_jax.training.seeds`),
so resume, stop signals, divergence, step-loss logging, progress and checkpoints are
the same code for both. The model is split once into a graph definition and state
(`lenet_jax.models.task`); every step is a pure function of that state
(`lenet_jax.training.steps`). Small datasets live on the device as uint8; each epoch is
shuffled there and run as `lax.scan` over chunks of `steps_per_scan` steps, with metrics
summed on the device, so there is no per-step host work.
"""

import contextlib
import dataclasses
import functools
import os
import time
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
import optax
from absl import logging

from lenet_jax import data
from lenet_jax.common import files, lock, preemption, random_streams
from lenet_jax.common.errors import ConfigError, UserError
from lenet_jax.runs import validation
from lenet_jax.data import device_prefetch, distortions, preprocess
from lenet_jax.models import summary
from lenet_jax.models import task as task_lib
from lenet_jax.optim import optimizers
from lenet_jax.runs import checkpoint, metrics, run_record, scores
from lenet_jax.training import parallel, progress, steps, tracing
from lenet_jax.training import seeds as seeds_lib
from lenet_jax.weights import init_from

STARTING = "during start-up; nothing was trained"


class DivergenceError(UserError):
  """The loss became NaN or Inf for every seed; `result` is the run's summary up to the
  epoch it happened in (that epoch's records written, its state not saved)."""

  def __init__(self, message: str, result: dict):
    super().__init__(message)
    self.result = result


@dataclasses.dataclass
class Run:
  """What a training run is made of, before any step: data on the device (or its
  streams), the task, the optimizer and the compiled evaluation."""
  resolved: validation.Resolved
  dataset: data.Dataset
  task: task_lib.Task
  train_images: jax.Array | None  # resident datasets; None when streamed
  train_labels: jax.Array | None
  test_images: jax.Array | None
  test_labels: jax.Array | None
  steps_per_epoch: int
  batch_size: int
  tx: optax.GradientTransformation
  evaluate: Callable  # jit(variables, images, labels) -> {loss, accuracy}
  learning_rate: optax.Schedule  # the schedule, for the log
  streams: tuple | None = None  # (train, test) streams of a streamed dataset
  device_prefetch: int = 0  # streamed batches placed this many ahead
  changed: dict = dataclasses.field(default_factory=dict)  # resumable keys this invocation changes

  @property
  def n_train(self) -> int:
    if self.streams is not None:
      return self.steps_per_epoch * self.streams[0].batch_size * jax.process_count()
    return self.train_labels.shape[0]

  def dispatches(self, epoch, offset, order, place=jax.device_put, place_rows=jax.device_put):
    """(first step, end step, images, labels, batch index) of each compiled call of
    the epoch from step `offset` on: slices of the resident data's order ([steps,
    batch], or [seeds, steps, batch]), or streamed batches one step at a time."""
    if self.streams is None:
      for start, stop in steps.chunks(self.steps_per_epoch, self.resolved.steps_per_scan, offset):
        yield start, stop, self.train_images, self.train_labels, order[..., start:stop, :]
      return
    rows = place(np.arange(self.batch_size)[None])  # the batch as it comes
    batches = device_prefetch.placed(self.streams[0].epoch(epoch, skip=offset), place_rows,
                                     self.device_prefetch)
    for i, (images, labels) in enumerate(batches, offset):
      yield i, i + 1, images, labels, rows

  def test_scores(self, evaluate, params, place) -> dict:
    """{loss, accuracy[, top5_accuracy]} of `evaluate` on the whole test split."""
    if self.streams is None:
      return jax.device_get(evaluate(params, self.test_images, self.test_labels))
    return scores.stream_scores(functools.partial(evaluate, params), self.streams[1], place,
                                self.device_prefetch)


def setup(config, workdir: str, resolved, place=jax.device_put) -> Run:
  """Checks that a run already in `workdir` is resumed only with changes to resumable keys,
  then loads `config`'s data onto the device(s) with `place` (or opens its streams).
  Writes nothing."""
  changed = run_record.check_resume(workdir, config)
  spec = resolved.spec
  if spec.streamed:
    streams, dataset = data.streams(config, resolved)
  else:
    streams, dataset = None, data.load(config.data, resolved, ("train", "test"))
  task = task_lib.Task(config, resolved)
  logging.info("model %s on %s, input %s:\n%s", config.model.name, spec.name, task.input_shape,
               summary.format_table(summary.rows(task.model(task.variables()), task.input_shape),
                                    task.input_shape))
  if streams is not None:
    arrays = dict.fromkeys(("train_images", "train_labels", "test_images", "test_labels"))
    steps_per_epoch, eval_batch = streams[0].num_batches, config.eval_batch_size
  else:
    splits = {split: dataset.split(split) for split in ("train", "test")}
    if resolved.distortions == "fixed":
      splits["train"] = distorted_set(config, resolved, *splits["train"])
    arrays = {f"{split}_{kind}": place(a) for split, pair in splits.items()
              for kind, a in zip(("images", "labels"), pair)}
    n_train = arrays["train_labels"].shape[0]
    if n_train < config.batch_size:
      raise ConfigError("batch_size", config.batch_size,
                        f"larger than the {n_train} training images of {spec.name}")
    steps_per_epoch = n_train // config.batch_size
    eval_batch = min(config.eval_batch_size, arrays["test_labels"].shape[0])
  return Run(resolved=resolved, dataset=dataset, task=task, steps_per_epoch=steps_per_epoch,
             batch_size=config.batch_size, tx=optimizers.create(config, steps_per_epoch),
             evaluate=scores.make_evaluate(task, eval_batch),
             learning_rate=optimizers.schedule(config, steps_per_epoch), streams=streams,
             device_prefetch=config.data.device_prefetch if streams is not None else 0,
             changed=changed, **arrays)


def distorted_set(config, resolved, images, labels):
  """The paper's fixed distorted training set (`distortions.fixed_copies`), drawn once
  from the run's seed."""
  d = config.distortions
  padded = preprocess.pad(jnp.asarray(images), resolved.pad_to)
  made, labels = distortions.fixed_copies(
      jax.random.key(config.seed + random_streams.FIXED_DISTORTIONS), padded, labels,
                                          d.copies, distortions.ranges_of(d))
  logging.info("distortions: the paper's fixed protocol, %d originals and %d distorted copies "
               "of each, made once", len(images), d.copies)
  return np.asarray(made), np.asarray(labels)


def divergence_message(first_bad_step, epoch, ckpt) -> str:
  good = ckpt.latest_step()
  return (f"the loss or gradients became NaN or Inf at step {int(first_bad_step)} "
          f"(epoch {epoch}); last good checkpoint: "
          + (f"step {good} in {ckpt.directory}" if good is not None else "none")
          + "; lower config.learning_rate, or set config.debug_nans=True to find the cause")


def _check_seeds_fit(config, resolved, seeds: int, shared_order: bool) -> None:
  if seeds <= 1:
    return
  if resolved.mesh != (1, 1):
    raise ConfigError("parallel", dict(zip(("data", "model"), resolved.mesh)),
                      "seeds train together on one device; use parallel.data=parallel.model=1")
  if resolved.distortions == "fixed":
    raise ConfigError("distortions.protocol", "fixed", "a fixed distorted set is drawn per run; "
                      "vmapped seeds would share one: use --seeds=1 per cell, or 'online'")
  if resolved.spec.streamed and not shared_order:
    raise UserError(f"{resolved.spec.name} is streamed: every seed reads the same batches, so "
                    "several seeds need --data_order=shared (or --seeds=1)")


def train_and_evaluate(config, workdir: str, *, seeds: int | None = None,
                       shared_order: bool = False, seed_devices: int = 1,
                       profile: tuple[str, int] | None = None) -> dict:
  """Trains `config` in `workdir`, resuming from its last checkpoint; returns a summary.

  `seeds=None`: one run, recorded in `workdir` (config.json, metrics.jsonl, TensorBoard
  event files, orbax checkpoints). `seeds=n`: seeds config.seed .. config.seed + n - 1
  trained together, each recorded in `workdir/seed_<k>/` (`lenet_jax.training.seeds`;
  `shared_order`: every seed reads seed 0's data order; `seed_devices`: the seed axis
  sharded over that many devices). `profile=(directory, steps)`: a jax.profiler trace of
  `steps` steps from the second training call on, and the time per XLA operation
  printed (`lenet_jax.training.tracing`).

  Checkpoints are written at the end of an epoch once `config.checkpoint_secs` have
  passed since the last (0: every epoch), at the last epoch and on a stop signal. A
  seed whose loss becomes NaN or Inf is reported and keeps its records; when every
  seed has, the run stops with a DivergenceError after writing that epoch's records,
  leaving the last good checkpoint as it was.

  Across several processes (`config.parallel.distributed`), every process runs this
  function: each reads the (small, resident) dataset and places it on every device of
  the mesh, each device trains on its rows of each batch, and only process 0 prints,
  writes files and holds the workdir's lock; orbax writes the checkpoints jointly.
  """
  parallel.initialize_distributed(config)
  resolved = validation.validate(config)
  if seeds is not None:
    seeds_lib.check_seeds(seeds)
    _check_seeds_fit(config, resolved, seeds, shared_order)
  if config.init_from and not os.path.isfile(os.path.join(workdir, run_record.CONFIG)):
    init_from.source_config(config.init_from, config.model.name)
  main = parallel.is_main_process()
  # Only process 0 writes: it holds the workdir, made (and removed again if training
  # stops before writing anything) by taking the lock.
  if profile and main:
    files.writable_dir(profile[0], "--profile_dir")
  held = lock.hold(workdir, "lenet_jax training") if main else contextlib.nullcontext()
  with held, preemption.StopSignals() as stop:
    run_record.check_kind(workdir, seeded=seeds is not None)
    return _train(config, workdir, resolved, seeds, shared_order, seed_devices, main, stop,
                  profile)


@dataclasses.dataclass
class _Session:
  """What start-up made for the epochs to run on: the run, its seeds, the compiled
  functions, and the state restored from the last checkpoint (or the initial one)."""
  run: Run
  plan: seeds_lib.Seeds
  place: Callable  # places a value every seed shares (on the mesh, for a mesh)
  place_rows: Callable  # places this process's rows of a streamed batch
  train_chunk: Callable
  evaluate: Callable
  refresh_curvature: Callable | None  # SDLM's, else None
  epoch_order: Callable  # epoch -> the epoch's batch order, placed
  dropout_keys: jax.Array
  zero_sums: dict  # each seed's metric sums before an epoch's first step
  ckpt: checkpoint.Checkpointer
  last: int | None  # the step of the checkpoint restored, None for none
  state: dict  # the training state restored (or initial)
  partial: dict  # the metric sums of an epoch a stop interrupted
  new_run: bool  # no config.json yet


def _start_up(config, workdir, resolved, num_seeds, shared_order, seed_devices, main,
              say) -> _Session:
  """Loads the data, builds the task, restores the state and compiles the evaluation: all
  the work before the first step, which writes nothing (a stop during it loses nothing)."""
  # On a mesh, host values go to every device as global arrays, so that any
  # process can feed the compiled steps; on one device, to that device.
  place = parallel.replicated(config) if resolved.mesh != (1, 1) else jax.device_put
  place_rows = parallel.rows_sharded(config) if resolved.mesh != (1, 1) else jax.device_put
  if num_seeds is None:
    plan = seeds_lib.single(workdir, config, place)
  else:
    plan = seeds_lib.several(workdir, config, num_seeds, shared_order, seed_devices)
    place = plan.place
  run = setup(config, workdir, resolved, place)
  task, tx = run.task, run.tx
  new_run = not os.path.isfile(os.path.join(workdir, run_record.CONFIG))
  state = _initial_state(config, plan, task, tx, new_run, say)
  state, loss_and_grads = parallel.setup(task, config, state)
  if loss_and_grads is not None:
    d, m = resolved.mesh
    say(f"parallel: {d} data x {m} model devices ({config.parallel.backend}) of "
        f"{jax.device_count()} {jax.devices()[0].platform} devices in {jax.process_count()} "
        f"process{'es' if jax.process_count() > 1 else ''}")
  train_chunk = steps.make_train_chunk(task, tx, loss_and_grads, seeds=plan.vmapped,
                                       shared_order=plan.shared_order)
  evaluate = jax.jit(jax.vmap(run.evaluate, in_axes=(0, None, None))) if plan.vmapped \
      else run.evaluate
  zero_sums = jax.tree.map(plan.by_seed, _per_seed(plan, metrics.zero_sums()))
  ckpt = checkpoint.Checkpointer(workdir, config.checkpoint_keep)
  # `partial`: the metric sums of an epoch interrupted by a signal.
  last, restored = ckpt.restore_latest({"train": state, "partial": zero_sums}, set_aside=main,
                                       say=say)
  return _Session(run=run, plan=plan, place=place, place_rows=place_rows,
                  train_chunk=train_chunk, evaluate=evaluate,
                  refresh_curvature=_curvature_refresh(config, run, plan),
                  epoch_order=_epoch_orders(config, run, plan),
                  dropout_keys=plan.by_seed(_keys(plan, random_streams.STEPS)), zero_sums=zero_sums, ckpt=ckpt,
                  last=last, state=restored["train"], partial=restored["partial"],
                  new_run=new_run)


def _train(config, workdir, resolved, num_seeds, shared_order, seed_devices, main, stop,
           profile):
  say = functools.partial(print, flush=True) if main else (lambda *a, **k: None)
  trace = tracing.StepTrace(*profile, say) if profile and main else None
  session = stop.wait_for(lambda: _start_up(config, workdir, resolved, num_seeds, shared_order,
                                            seed_devices, main, say), STARTING)
  log = _Records(config, workdir, session.plan, session.run, main)
  state = session.state
  try:
    start_epoch, offset = _resume_point(config, workdir, session, main, say)
    histories = log.kept(start_epoch - 1, _step(state))
    saved = {"at": time.perf_counter()}  # when the last checkpoint was written
    for epoch in range(start_epoch, config.num_epochs + 1):
      state = _epoch(config, session, state, epoch, offset, histories, saved, stop, log, trace,
                     main, say)
      offset = 0
      if stop.signum is not None and epoch < config.num_epochs:
        raise stop.saved(f"at the end of epoch {epoch} (step {_step(state)})",
                         session.ckpt.directory)
    if main and start_epoch > config.num_epochs and session.last is not None:
      say(f"{workdir} already holds all {config.num_epochs} epochs; nothing to train")
  finally:
    if trace is not None:
      trace.finish(state)
    if main:
      log.close()
    session.ckpt.close()
  return _finish(config, workdir, num_seeds, session, state, histories, main, say)


def _resume_point(config, workdir, session, main, say) -> tuple[int, int]:
  """(the epoch to train first, the step within it to start from) of the restored state;
  a run whose checkpoints were deleted is refused, a resumed one says where it resumes."""
  plan, ckpt = session.plan, session.ckpt
  done_steps = _step(session.state)
  steps_per_epoch = session.run.steps_per_epoch
  start_epoch, offset = done_steps // steps_per_epoch + 1, done_steps % steps_per_epoch
  if session.last is None and not session.new_run and main:
    _refuse_lost_checkpoints(workdir, plan, ckpt)
  if session.last is not None and start_epoch <= config.num_epochs:
    say(f"Resuming {'' if plan.count == 1 else f'{plan.count} seeds '}from the checkpoint at "
        f"step {done_steps} (epoch {start_epoch}"
        + (f", step {offset} of {steps_per_epoch}" if offset else "")
        + f") in {ckpt.directory}")
  return start_epoch, offset


def _epoch(config, session, state, epoch, offset, histories, saved, stop, log, trace, main,
           say):
  """One epoch from step `offset`: its steps, its test scores, its records (appended to
  `histories`), its checkpoint when one is due, its line; returns the state. Every seed's
  loss not finite: DivergenceError, that epoch's records kept, its state not saved."""
  run, plan, ckpt = session.run, session.plan, session.ckpt
  t0 = time.perf_counter()
  first_step = (epoch - 1) * run.steps_per_epoch + offset + 1  # of this invocation's epoch
  images_before = offset * config.batch_size  # trained before a stop signal
  state, sums, losses = _train_epoch(config, session, state, epoch, offset, stop, log, trace,
                                     main)
  train_seconds = time.perf_counter() - t0
  test = run.test_scores(session.evaluate, run.task.variables(state), session.place)
  seconds = time.perf_counter() - t0
  step = _step(state)
  records, bad = _epoch_records(plan, run, epoch, step, sums, test,
                                (images_before, train_seconds, seconds))
  diverged = len(bad) == plan.count
  # The records go first, so that a kill before the checkpoint is whole leaves records that
  # the resume drops; a save that fails takes them back itself.
  log.epoch(records, first_step, losses)
  if not diverged and (epoch == config.num_epochs or stop.signum is not None
                       or time.perf_counter() - saved["at"] >= config.checkpoint_secs):
    try:
      ckpt.save(step, {"train": state, "partial": session.zero_sums})
    except UserError:
      log.withdraw(epoch - 1, (epoch - 1) * run.steps_per_epoch)
      raise
    saved["at"] = time.perf_counter()
  for k, record in enumerate(records):
    histories[k].append(record)
  say(_epoch_line(config, plan, records, images_before, train_seconds, seconds))
  if diverged:
    raise DivergenceError(divergence_message(min(bad.values()), epoch, ckpt),
                          _summary(plan, histories, state, run))
  for k in sorted(bad):
    if all("nonfinite_step" not in r for r in histories[k][:-1]):  # said once, when it came
      say(f"seed {plan.seeds[k]}: the loss or gradients became NaN or Inf at step {bad[k]} "
          f"(epoch {epoch}); its metrics are kept, the other seeds go on")
  return state


def _finish(config, workdir, num_seeds, session, state, histories, main, say) -> dict:
  """What `train_and_evaluate` returns, once every epoch is done: the summary (and each
  seed's final checkpoint in its run directory)."""
  plan, run = session.plan, session.run
  if not main:
    return {"state": state, "data_source": run.dataset.source, "epochs": len(histories[0])}
  if not all(histories):
    raise UserError(f"{workdir} holds a checkpoint but no metrics.jsonl; use a new --workdir")
  if num_seeds is not None:
    _final_seed_checkpoints(config, plan, state)
  result = _summary(plan, histories, state, run)
  if num_seeds is None:
    say(f"done: best test accuracy {result['best_test_accuracy']:.4f} (epoch "
        f"{result['best_epoch']}), last {result['last_test_accuracy']:.4f}; workdir {workdir}")
  return result


def _step(state) -> int:
  """The state's step (the first seed's, where there is a seed axis)."""
  return int(np.asarray(state["step"]).reshape(-1)[0])


def _train_epoch(config, session, state, epoch, offset, stop, log, trace, main):
  """The training steps of `epoch` from step `offset` on: (state, the epoch's metric sums on
  the host, its step losses). A stop signal ends it after the chunk in flight: the state
  and the partial sums are saved there and StopRequested raised."""
  run = session.run
  steps_per_epoch = run.steps_per_epoch
  order = session.epoch_order(epoch) if run.streams is None else None
  if not offset and session.refresh_curvature is not None and (
      (epoch - 1) % config.sdlm.period_epochs == 0):
    state = _started(stop, log, lambda: session.refresh_curvature(
        state, run.train_images, run.train_labels, order))
  bar = progress.step_progress(steps_per_epoch - offset, f"epoch {epoch}",
                               config.progress_secs) if main else None
  sums = session.partial if offset else session.zero_sums
  losses_of_epoch = []
  first_step = (epoch - 1) * steps_per_epoch + offset + 1  # of this dispatch loop
  # closed on leaving (a stop signal raises out of it): no reading thread outlives it
  with contextlib.closing(run.dispatches(epoch, offset, order, session.place,
                                         session.place_rows)) as dispatches:
    for start, stop_at, images, labels, index in dispatches:
      args = (state, images, labels, index, session.dropout_keys)
      if trace is not None:
        trace.before(session.train_chunk, args, stop_at - start)
      state, chunk_sums, step_losses = _started(
          stop, log, functools.partial(session.train_chunk, *args))
      if trace is not None:
        trace.after(state)
      sums = metrics.merge_sums(sums, chunk_sums)
      if config.log_step_losses:
        losses_of_epoch.append(step_losses)
      if bar is not None:
        bar.dispatched(step_losses, stop_at - start)
      if stop.signum is not None and stop_at < steps_per_epoch:
        log.step_losses(first_step, losses_of_epoch)
        step = _step(state)
        session.ckpt.save(step, {"train": state, "partial": sums})
        raise stop.saved(f"at step {step} (epoch {epoch})", session.ckpt.directory)
  sums = jax.device_get(sums)  # the one sync of the epoch
  if bar is not None:
    bar.close()
  return state, sums, losses_of_epoch


def _epoch_records(plan, run, epoch, step, sums, test, times):
  """(each seed's metrics.jsonl record of `epoch`, {seed index: the first non-finite step}
  of the seeds whose loss or gradients stopped being finite). `times`: (images trained
  before a stop this epoch, training seconds, seconds)."""
  images_before, train_seconds, seconds = times
  records, bad = [], {}
  for k in range(plan.count):
    count = plan.per_seed(sums["count"], k)
    record = {
        "epoch": epoch, "step": step, "seed": plan.seeds[k],
        "train_loss": float(plan.per_seed(sums["loss"], k) / count),
        "train_accuracy": float(plan.per_seed(sums["correct"], k) / count),
        **scores.test_fields(test, k if plan.vmapped else None),
        "images_per_sec": float((count - images_before) / train_seconds),
        "learning_rate": float(run.learning_rate(step - 1)), "seconds": seconds,
    }
    bad_step = int(plan.per_seed(sums["first_nonfinite"], k))
    if bad_step < metrics.NO_STEP or not np.isfinite(record["train_loss"]):
      record["nonfinite_step"] = bad[k] = min(bad_step, step)
    records.append(record)
  return records, bad


def _summary(plan, histories, state, run) -> dict:
  """What `train_and_evaluate` returns: each seed's epoch records, the state, and the
  first seed's best and last test accuracy."""
  history = histories[0]
  best = max(history, key=lambda r: r["test_accuracy"])
  return {"seeds": list(plan.seeds), "history": histories, "state": state,
          "params": sum(x.size for x in jax.tree.leaves(run.task.params)),
          "data_source": run.dataset.source, "epochs": len(history),
          "best_test_accuracy": best["test_accuracy"], "best_epoch": best["epoch"],
          "last_test_accuracy": history[-1]["test_accuracy"]}


def _started(stop, log, fn):
  """fn() (a compiled call); the first one of this invocation compiles, and a stop signal
  during that wait stops at once with nothing written. Once it has run, training has
  started and the run's records are written (`_Records.start`)."""
  if log.started:
    return fn()
  out = stop.wait_for(fn, STARTING)
  log.start()
  return out


def _keys(plan, offset: int):
  """Each seed's key `seed + offset` (stacked for a seed axis)."""
  if plan.vmapped:
    return jax.vmap(jax.random.key)(jnp.asarray(plan.seeds) + offset)
  return jax.random.key(plan.seeds[0] + offset)


def _per_seed(plan, tree):
  if plan.vmapped:
    return jax.tree.map(lambda z: jnp.full((plan.count,) + z.shape, z), tree)
  return tree


def _initial_state(config, plan, task, tx, new_run: bool, say):
  """Each seed's training state at step 0 (stacked for a seed axis), started from
  `config.init_from`'s variables for a new run that names one."""
  variables = ([task.variables()] if not plan.vmapped
               else [task.init_variables(s) for s in plan.seeds])
  if config.init_from and new_run:
    variables = [init_from.variables_from(v, config.model.name, config.init_from, say)
                 for v in variables]
  if not plan.vmapped:
    return task_lib.init_state(task, tx, variables[0])
  return jax.tree.map(plan.by_seed, jax.vmap(functools.partial(task_lib.init_state, task, tx))(
      seeds_lib.stack(variables)))


def _curvature_refresh(config, run, plan):
  """SDLM's compiled curvature re-estimate, or None for other optimizers."""
  if config.optimizer != "sdlm":
    return None
  refresh = steps.make_curvature_refresh(run.task, min(config.sdlm.samples, run.n_train))
  if plan.vmapped:
    refresh = jax.jit(jax.vmap(refresh, in_axes=(0, None, None, None if plan.shared_order
                                                  else 0)))
  return refresh


def _epoch_orders(config, run, plan):
  """epoch -> the epoch's batch order, placed: [steps, batch], with a leading seed axis
  for vmapped seeds that each read their own order."""
  order_of = functools.partial(steps.epoch_order, n=run.n_train, batch_size=config.batch_size)
  if not plan.vmapped or plan.shared_order:
    key = jax.random.key(plan.seeds[0] + random_streams.DATA_ORDER)
    if run.resolved.mesh != (1, 1):  # every process computes it and places it on the mesh
      return lambda epoch: plan.place(jax.device_get(order_of(key, epoch)))
    return lambda epoch: plan.place(order_of(key, epoch))
  keys = _keys(plan, random_streams.DATA_ORDER)
  return lambda epoch: plan.by_seed(jax.vmap(order_of, in_axes=(0, None))(keys, epoch))


def _refuse_lost_checkpoints(workdir, plan, ckpt) -> None:
  """A run that saved checkpoints but has none left (checkpoints/ deleted) would restart
  from step 0 and overwrite its records: refused. A saved checkpoint is known by its
  digest, which outlives checkpoints/. (A run stopped before its first checkpoint was
  whole, its first epoch's records already written, starts again: those records go.)"""
  if ckpt.saved_before():
    recorded = max(len(metrics.read(d)) for d in plan.run_dirs)
    raise UserError(f"{workdir} holds a run with {recorded} epoch(s) in metrics.jsonl but no "
                    f"checkpoint in {ckpt.directory} to resume from; restore the checkpoints, "
                    "or train in a new --workdir")


def _epoch_line(config, plan, records, images_before, train_seconds, seconds) -> str:
  if plan.count == 1:
    r = records[0]
    return (f"epoch {r['epoch']:3d}/{config.num_epochs}  train loss {r['train_loss']:.4f} "
            f"acc {r['train_accuracy']:.4f}  {scores.score_text(r)}  "
            f"{r['images_per_sec']:,.0f} img/s  {seconds:.1f}s")
  accuracy = np.array([r["test_accuracy"] for r in records])
  images = sum(r["images_per_sec"] for r in records)
  return (f"epoch {records[0]['epoch']:3d}/{config.num_epochs}  {plan.count} seeds: train loss "
          f"{np.mean([r['train_loss'] for r in records]):.4f}  test acc {accuracy.mean():.4f} "
          f"+- {accuracy.std():.4f}  {images:,.0f} img/s  {seconds:.1f}s")


def _final_seed_checkpoints(config, plan, state) -> None:
  """Each seed's run directory gets the final checkpoint, so that evaluate and the
  figures take it as any run."""
  final_step = _step(state)
  for k, directory in enumerate(plan.run_dirs):
    seed_ckpt = checkpoint.Checkpointer(directory, config.checkpoint_keep)
    try:
      if seed_ckpt.latest_step() != final_step:
        seed_ckpt.save(final_step, {"train": plan.pick(state, k), "partial": metrics.zero_sums()})
    finally:
      seed_ckpt.close()


class _Records:
  """What a run writes besides checkpoints, in each seed's run directory: config.json and
  versions.json (or a history line for a resume), metrics.jsonl, steps.jsonl and
  TensorBoard events. Nothing is written before training has started (`start`)."""

  def __init__(self, config, workdir, plan, run, main: bool):
    self.config, self.workdir, self.plan, self.run, self.main = config, workdir, plan, run, main
    self.started = False
    self.writers = []
    self._cut = None

  def kept(self, last_epoch: int, last_step: int) -> list:
    """Each seed's epoch records up to the checkpoint resumed from (those after it are
    dropped from the files once training starts)."""
    self._cut = (last_epoch, last_step)
    return [[r for r in metrics.read(d) if r["epoch"] <= last_epoch] for d in self.plan.run_dirs]

  def start(self) -> None:
    self.started = True
    if not self.main:
      return
    run, config = self.run, self.config
    from_step = self._cut[1]
    if self.plan.vmapped or self.plan.run_dirs[0] != self.workdir:
      run_record.record_start(self.workdir, config, run.dataset, run.changed, from_step)
    for seed, directory in zip(self.plan.seeds, self.plan.run_dirs):
      seed_config = config if directory == self.workdir else seeds_lib.seed_config(config, seed)
      run_record.record_start(directory, seed_config, run.dataset, run.changed, from_step)
      metrics.truncate(directory, *self._cut)
      self.writers.append(metrics.MetricWriter(directory))

  def epoch(self, records, first_step, losses) -> None:
    if not self.main:
      return
    for writer, record in zip(self.writers, records):
      writer.write(record)
    self.step_losses(first_step, losses)

  def withdraw(self, last_epoch: int, last_step: int) -> None:
    """Drops the records after `last_epoch` and `last_step` (an epoch whose checkpoint
    could not be written; its TensorBoard scalars stay, that format only appends)."""
    if self.main:
      for directory in self.plan.run_dirs:
        metrics.truncate(directory, last_epoch, last_step)

  def step_losses(self, first_step, losses) -> None:
    if not (self.main and losses):
      return
    losses = np.concatenate(jax.device_get(losses), axis=-1)
    for k, directory in enumerate(self.plan.run_dirs):
      metrics.write_step_losses(directory, first_step, self.plan.per_seed(losses, k))

  def close(self) -> None:
    for writer in self.writers:
      writer.close()

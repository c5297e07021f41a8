"""The training loop: `train_and_evaluate(config, workdir)`.

The model is split once into a graph definition and state; every step is a pure
function of that state. Small datasets live on the device as uint8; each epoch
is shuffled there and run as `lax.scan` over chunks of `config.steps_per_scan`
steps, with metrics summed on the device, so there is no per-step host work.
"""

import functools
import json
import os
import sys
import time

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
from absl import logging
from flax import nnx

from lenet_jax import (checkpoint, data, losses, metrics, models, optimizers, parallel,
                       preemption, summary)
from lenet_jax.data import preprocess
from lenet_jax.errors import ConfigError, UserError
from lenet_jax.optim import sdlm


class DivergenceError(UserError):
  """The loss became NaN or Inf."""


def _check_int(key, value, minimum=1):
  if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
    raise ConfigError(key, value, f"must be an integer >= {minimum}")


def validate(config) -> data.DatasetSpec:
  """Checks every config value a user can get wrong; returns the dataset spec."""
  _check_int("batch_size", config.batch_size)
  _check_int("eval_batch_size", config.eval_batch_size)
  _check_int("num_epochs", config.num_epochs)
  _check_int("steps_per_scan", config.steps_per_scan, minimum=0)
  _check_int("checkpoint_keep", config.checkpoint_keep)
  _check_int("seed", config.seed, minimum=0)
  for key in ("nesterov", "log_step_losses", "debug_nans", "distortions.enabled"):
    value = _get(config, key)
    if value is not None and not isinstance(value, bool):
      raise ConfigError(key, value, "must be True or False")
  if config.get("warmup_epochs", 0) < 0:
    raise ConfigError("warmup_epochs", config.warmup_epochs, "must be >= 0")
  distortions = config.get("distortions")
  if distortions is not None:
    for key in ("translate", "scale", "squeeze", "shear"):
      value = distortions[key]
      limit = 1.0 if key in ("scale", "squeeze") else float("inf")
      if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < limit:
        raise ConfigError(f"distortions.{key}", value,
                          "must be >= 0" + (" and < 1" if limit == 1.0 else ""))
  if "map_j" in config.model and not np.isfinite(config.model.map_j):
    raise ConfigError("model.map_j", config.model.map_j, "must be a finite number")
  if config.data.get("resize"):
    _check_int("data.resize", config.data.resize, minimum=32)
    _check_int("data.channels", config.data.channels)
  spec = data.validate(config.data)
  models.validate(config.model, spec.num_classes)
  optimizers.validate(config)
  parallel.validate(config)
  return spec


def _get(config, dotted):
  for part in dotted.split("."):
    if config is None or part not in config:
      return None
    config = config[part]
  return config


class Task:
  """A model, its loss and its input preparation, as pure functions of state."""

  def __init__(self, config, spec):
    self.config = config
    self.spec = spec
    self.input_shape = preprocess.model_input_shape(spec, config.data)
    self.resize = None
    if config.data.get("resize"):
      self.resize = (self.input_shape[0], self.input_shape[-1])
    model = models.create(config.model, self.input_shape, spec.num_classes, config.seed)
    self.graphdef, self.params, self.rest = nnx.split(model, nnx.Param, ...)
    self.loss_fn = losses.for_model(config.model)
    self.normalization = config.data.normalization
    distort = config.get("distortions")
    self.distortion_ranges = None
    if distort is not None and distort.enabled:
      self.distortion_ranges = {k: float(distort[k])
                                for k in ("translate", "scale", "squeeze", "shear")}

  def model(self, params):
    return nnx.merge(self.graphdef, params, self.rest)

  def prepare(self, images, distortion_key=None):
    return preprocess.prepare(images, self.spec, self.normalization,
                              distortion_key=distortion_key,
                              distortion_ranges=self.distortion_ranges, resize=self.resize)

  def _output_is_fixed(self):
    return not jax.tree.leaves(nnx.state(self.model(self.params).output, nnx.Param))

  def curvature_outputs(self, params, images):
    """The outputs SDLM's Gauss-Newton diagonal is taken at (see `curvature_loss`)."""
    model = self.model(params)
    x = self.prepare(images)
    return model.features(x) if self._output_is_fixed() else model(x)

  def curvature_loss(self, outputs, labels):
    """The loss as a function of `curvature_outputs`.

    A parameter-free output layer (the RBF units) is part of the loss here, as
    in the paper: the RBF penalties are quadratic in F6's states, so the loss's
    Hessian is taken with respect to those 84 states. (With respect to the 10
    penalties it vanishes wherever the MAP term's "rubbish class" dominates.)
    """
    if self._output_is_fixed():
      outputs = self.model(self.params).output(outputs)
    return self.loss_fn(outputs, labels)

  def tower_logits(self, params, images, *, comm, train=False, rngs=None):
    """Per-tower logits (AlexNet), for use under shard_map or pmap; see lenet_jax.parallel."""
    distortion_key = None
    if train and self.distortion_ranges is not None:
      distortion_key, rngs = jax.random.split(rngs)
    x = self.prepare(images, distortion_key)
    return self.model(params).tower_forward(x, comm=comm, train=train, rngs=rngs)

  def loss_and_grads(self, params, images, labels, key):
    """(mean loss, correct count, gradients) of one batch on one device."""
    def loss_of(p):
      logits = self.logits(p, images, train=True, rngs=key)
      return self.loss_fn(logits, labels), logits

    (loss, logits), grads = jax.value_and_grad(loss_of, has_aux=True)(params)
    return loss, jnp.sum(jnp.argmax(logits, -1) == labels), grads

  def logits(self, params, images, *, train=False, rngs=None):
    distortion_key = None
    if train and self.distortion_ranges is not None:
      distortion_key, rngs = jax.random.split(rngs)
    return self.model(params)(self.prepare(images, distortion_key), train=train, rngs=rngs)


def init_state(task, tx):
  return {"params": task.params, "opt_state": tx.init(task.params),
          "step": jnp.zeros((), jnp.int32)}


def make_train_chunk(task, tx, loss_and_grads=None):
  """jit(state, images, labels, batch_index [k, B], key) -> (state, summed metrics, losses [k]).

  `loss_and_grads` defaults to the single-device `task.loss_and_grads`;
  `lenet_jax.parallel` supplies the tower-parallel one.
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
            "first_nonfinite": jnp.where(finite, _NO_STEP, state["step"] + 1).astype(jnp.int32)}
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

  donate = (0,) if jax.default_backend() != "cpu" else ()  # CPU cannot donate
  return jax.jit(train_chunk, donate_argnums=donate)


def make_evaluate(task, batch_size):
  """jit(params, images, labels) -> {loss, correct, count} over a whole split."""

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
      sums = {"loss": sums["loss"] + jnp.sum(per_example * m),
              "correct": sums["correct"] + jnp.sum((jnp.argmax(logits, -1) == y) & m)}
      return sums, None

    zero = {"loss": jnp.zeros(()), "correct": jnp.zeros((), jnp.int32)}
    sums, _ = jax.lax.scan(body, zero, batches)
    return {"loss": sums["loss"] / n, "accuracy": sums["correct"] / n}

  return jax.jit(evaluate)


def make_curvature_refresh(task, samples: int):
  """jit(state, images, labels, order) -> state with SDLM's curvature re-estimated.

  The estimate uses the first `samples` images of the epoch's order, undistorted.
  """

  def refresh(state, images, labels, order):
    index = order.reshape(-1)[:samples]
    curvature = sdlm.gauss_newton_diagonal(
        task.curvature_outputs, task.curvature_loss, state["params"], images[index],
        labels[index])
    return dict(state, opt_state=sdlm.with_curvature(state["opt_state"], curvature))

  return jax.jit(refresh)


def steps_per_scan(config) -> int:
  """Steps compiled into one `lax.scan`; 0 picks per backend.

  On CPU, XLA runs convolutions inside a loop body about 2.5x slower than as
  separate dispatches (measured on LeNet-5, batch 128), so CPU dispatches one
  step at a time; accelerators scan 100 steps per dispatch.
  """
  if config.steps_per_scan:
    return config.steps_per_scan
  return 1 if jax.default_backend() == "cpu" else 100


def epoch_order(key, epoch, n, batch_size):
  """The epoch's batches as an index array [steps, batch]; the last partial batch is dropped."""
  steps = n // batch_size
  perm = jax.random.permutation(jax.random.fold_in(key, epoch), n)
  return perm[: steps * batch_size].reshape(steps, batch_size)


def _chunks(total, size, first=0):
  return [(start, min(start + size, total)) for start in range(first, total, size)]


_NO_STEP = np.iinfo(np.int32).max


def zero_sums():
  return {"loss": jnp.zeros((), jnp.float32), "correct": jnp.zeros((), jnp.int32),
          "count": jnp.zeros((), jnp.int32), "first_nonfinite": jnp.asarray(_NO_STEP, jnp.int32)}


def _merge_sums(a, b):
  return {"loss": a["loss"] + b["loss"], "correct": a["correct"] + b["correct"],
          "count": a["count"] + b["count"],
          "first_nonfinite": jnp.minimum(a["first_nonfinite"], b["first_nonfinite"])}


def _progress(total, desc):
  if not sys.stdout.isatty():
    return None
  from tqdm import tqdm
  return tqdm(total=total, desc=desc, leave=False, unit="step")


def write_config(workdir, config, dataset):
  resolved = config.to_dict()
  resolved["data"]["resolved_source"] = dataset.source
  resolved["data"]["resolved_location"] = dataset.location
  try:
    os.makedirs(workdir, exist_ok=True)
    with open(os.path.join(workdir, "config.json"), "w") as f:
      json.dump(resolved, f, indent=2, default=str)
  except OSError as e:
    raise UserError(f"cannot write to --workdir={workdir} ({e.strerror}); choose a writable "
                    "directory with free space") from None


def load_state(config, workdir):
  """(step, training state, task) of the last checkpoint in `workdir`, for `config`'s model."""
  spec = validate(config)
  task = Task(config, spec)
  ckpt = checkpoint.Checkpointer(workdir, config.checkpoint_keep)
  try:
    step = ckpt.latest_step()
    if step is None:
      raise UserError(f"{ckpt.directory} holds no checkpoint; train first with lenet_jax.main")
    like = {"train": init_state(task, optimizers.create(config, 1)), "partial": zero_sums()}
    return step, ckpt.restore(step, like)["train"], task
  finally:
    ckpt.close()


def load_config(workdir) -> ml_collections.ConfigDict:
  """The config a run in `workdir` was made with (its config.json)."""
  path = os.path.join(workdir, "config.json")
  if not os.path.isfile(path):
    raise UserError(f"{path} not found: is --workdir a lenet_jax run directory?")
  with open(path) as f:
    resolved = json.load(f)
  resolved["data"].pop("resolved_source", None)
  resolved["data"].pop("resolved_location", None)
  return ml_collections.ConfigDict(resolved)


def train_and_evaluate(config, workdir: str) -> dict:
  """Trains `config` in `workdir`, resuming from its last checkpoint; returns a summary.

  Writes `config.json`, `metrics.jsonl` (one JSON object per epoch), TensorBoard
  event files and orbax checkpoints into `workdir`.
  """
  parallel.initialize_distributed(config)
  spec = validate(config)
  dataset = data.load(config.data, ("train", "test"), seed=config.seed)
  write_config(workdir, config, dataset)

  task = Task(config, spec)
  logging.info("model %s on %s, input %s:\n%s", config.model.name, spec.name, task.input_shape,
               summary.format_table(summary.rows(task.model(task.params), task.input_shape),
                                    task.input_shape))
  train_images, train_labels = (jax.device_put(a) for a in dataset.split("train"))
  test_images, test_labels = (jax.device_put(a) for a in dataset.split("test"))
  n_train = train_labels.shape[0]
  if n_train < config.batch_size:
    raise ConfigError("batch_size", config.batch_size,
                      f"larger than the {n_train} training images of {spec.name}")
  steps_per_epoch = n_train // config.batch_size
  tx = optimizers.create(config, steps_per_epoch)
  loss_and_grads = None
  state = init_state(task, tx)
  if parallel.is_parallel(config):
    mesh = parallel.make_mesh(config)
    loss_and_grads = parallel.make_loss_and_grads(task, config)
    if config.parallel.backend == "shard_map":
      state = parallel.shard_state(state, mesh)
    d, m = parallel.sizes(config)
    print(f"parallel: {d} data x {m} model devices ({config.parallel.backend}) of "
          f"{jax.device_count()} {jax.devices()[0].platform} devices", flush=True)
  train_chunk = make_train_chunk(task, tx, loss_and_grads)
  refresh_curvature = None
  if config.optimizer == "sdlm":
    refresh_curvature = make_curvature_refresh(task, min(config.sdlm.samples, n_train))
  evaluate = make_evaluate(task, min(config.eval_batch_size, test_labels.shape[0]))
  data_key = jax.random.key(config.seed + 1)
  dropout_key = jax.random.key(config.seed + 2)

  ckpt = checkpoint.Checkpointer(workdir, config.checkpoint_keep)
  partial = zero_sums()  # the metric sums of an epoch interrupted by a signal
  last = ckpt.latest_step()
  if last is not None:
    restored = ckpt.restore(last, {"train": state, "partial": partial})
    state, partial = restored["train"], restored["partial"]
  done_steps = int(state["step"])
  start_epoch, offset = done_steps // steps_per_epoch + 1, done_steps % steps_per_epoch
  history = metrics.truncate(workdir, start_epoch - 1)
  if last is not None:
    print(f"Resuming from the checkpoint at step {done_steps} (epoch {start_epoch}"
          + (f", step {offset} of {steps_per_epoch}" if offset else "")
          + f") in {ckpt.directory}", flush=True)

  writer = metrics.MetricWriter(workdir)
  try:
    with preemption.StopSignals() as stop:
      for epoch in range(start_epoch, config.num_epochs + 1):
        order = epoch_order(data_key, epoch, n_train, config.batch_size)
        if (refresh_curvature is not None and not offset
            and (epoch - 1) % config.sdlm.period_epochs == 0):
          state = refresh_curvature(state, train_images, train_labels, order)
        bar = _progress(steps_per_epoch - offset, f"epoch {epoch}")
        t0 = time.perf_counter()
        sums = partial if offset else zero_sums()
        images_before = int(jax.device_get(sums["count"]))
        losses_of_epoch = []
        for start, stop_at in _chunks(steps_per_epoch, steps_per_scan(config), offset):
          state, chunk_sums, step_losses = train_chunk(state, train_images, train_labels,
                                                       order[start:stop_at], dropout_key)
          sums = _merge_sums(sums, chunk_sums)
          if config.get("log_step_losses"):
            losses_of_epoch.append(step_losses)
          if bar is not None:
            jax.block_until_ready(state["step"])
            bar.update(stop_at - start)
          if stop.signum is not None and stop_at < steps_per_epoch:
            ckpt.save(int(state["step"]), {"train": state, "partial": sums})
            ckpt.close()
            raise preemption.StopRequested(
                f"stopped by {stop.name} at step {int(state['step'])} (epoch {epoch}); "
                f"checkpoint saved in {ckpt.directory}; run the same command to resume",
                stop.signum)
        offset = 0
        sums = jax.device_get(sums)  # the one sync of the epoch
        train_seconds = time.perf_counter() - t0
        if bar is not None:
          bar.close()
        train_loss = float(sums["loss"] / sums["count"])
        if sums["first_nonfinite"] < _NO_STEP or not np.isfinite(train_loss):
          good = ckpt.latest_step()
          raise DivergenceError(
              f"the loss or gradients became NaN or Inf at step {int(sums['first_nonfinite'])} "
              f"(epoch {epoch}); last good checkpoint: "
              + (f"step {good} in {ckpt.directory}" if good is not None else "none")
              + "; lower config.learning_rate, or set config.debug_nans=True to find the cause")
        test = jax.device_get(evaluate(state["params"], test_images, test_labels))
        seconds = time.perf_counter() - t0
        record = {
            "epoch": epoch, "step": int(state["step"]), "train_loss": train_loss,
            "train_accuracy": float(sums["correct"] / sums["count"]),
            "test_loss": float(test["loss"]), "test_accuracy": float(test["accuracy"]),
            "images_per_sec": float((sums["count"] - images_before) / train_seconds),
            "learning_rate": float(optimizers.schedule(config, steps_per_epoch)(
                state["step"] - 1)),
            "seconds": seconds,
        }
        print(f"epoch {epoch:3d}/{config.num_epochs}  train loss {record['train_loss']:.4f} "
              f"acc {record['train_accuracy']:.4f}  test loss {record['test_loss']:.4f} "
              f"acc {record['test_accuracy']:.4f}  {record['images_per_sec']:,.0f} img/s  "
              f"{seconds:.1f}s", flush=True)
        writer.write(record)
        if losses_of_epoch:
          first_step = record["step"] - sum(len(x) for x in losses_of_epoch) + 1
          metrics.write_step_losses(workdir, first_step,
                                    np.concatenate(jax.device_get(losses_of_epoch)))
        history.append(record)
        ckpt.save(int(state["step"]), {"train": state, "partial": zero_sums()})
  finally:
    writer.close()
    ckpt.close()

  if not history:
    raise UserError(f"{workdir} holds a checkpoint but no metrics.jsonl; use a new --workdir")
  if start_epoch > config.num_epochs and last is not None:
    print(f"{workdir} already holds all {config.num_epochs} epochs; nothing to train", flush=True)
  best = max(history, key=lambda r: r["test_accuracy"])
  result = {"best_test_accuracy": best["test_accuracy"], "best_epoch": best["epoch"],
            "last_test_accuracy": history[-1]["test_accuracy"], "epochs": len(history),
            "data_source": dataset.source, "state": state}
  print(f"done: best test accuracy {best['test_accuracy']:.4f} (epoch {best['epoch']}), "
        f"last {history[-1]['test_accuracy']:.4f}; workdir {workdir}", flush=True)
  return result

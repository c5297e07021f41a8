"""Several seeds of one config trained together: one compiled program, `jax.vmap`
over the parameters, the optimizer state and the random keys.

Seed k of a run with `config.seed = s` is the run `lenet_jax.main` makes with
`config.seed = s + k`: the same initial parameters, the same data order (unless
`shared_order`, where every seed sees seed s's order) and the same dropout and
distortion keys, so its metrics equal the separate run's to float tolerance.
On an accelerator the seeds cost about one run.

`workdir` holds config.json and checkpoints/ (all seeds stacked, for resume),
and per seed a run directory `seed_<k>/` of its own: config.json with its seed,
metrics.jsonl, TensorBoard events and, once training ends, its final
checkpoint, so `lenet_jax.evaluate` and `lenet_jax.plots` work on it as on any run.
"""

import functools
import os
import time

import jax
import jax.numpy as jnp
import numpy as np

from lenet_jax import (checkpoint, metrics, parallel, preemption, run_record, steps, sweeps,
                       train)
from lenet_jax import task as task_lib
from lenet_jax.errors import ConfigError, UserError


def seed_dir(workdir: str, k: int) -> str:
  return os.path.join(workdir, f"seed_{k}")


def seed_config(config, seed: int):
  return sweeps.apply(config, {"seed": seed})


def _stack(trees):
  return jax.tree.map(lambda *xs: jnp.stack(xs), *trees)


def _seed(tree, k: int):
  return jax.tree.map(lambda x: x[k], tree)


def check_seeds(num_seeds) -> None:
  if isinstance(num_seeds, bool) or not isinstance(num_seeds, int) or num_seeds < 1:
    raise UserError(f"--seeds={num_seeds!r} is invalid: must be an integer >= 1")


def seed_mesh(num_seeds: int, seed_devices: int = 1):
  """A mesh of `seed_devices` devices along a 'seeds' axis, or None for one device.

  0 picks the most devices of this host that divide the seeds evenly (8 GPUs, 16
  seeds: 2 per device). The vmapped seed axis is sharded over it: each device
  trains its seeds, in one program.
  """
  devices = jax.local_devices()
  if isinstance(seed_devices, bool) or not isinstance(seed_devices, int) or seed_devices < 0:
    raise UserError(f"--seed_devices={seed_devices!r} is invalid: an integer >= 0")
  n = seed_devices or max(d for d in range(1, len(devices) + 1) if num_seeds % d == 0)
  if n > len(devices) or num_seeds % n:
    raise UserError(f"--seed_devices={n} is invalid: {num_seeds} seeds must divide evenly over "
                    f"them, and this host has {len(devices)} devices")
  if n == 1:
    return None
  return jax.sharding.Mesh(np.array(devices[:n]), ("seeds",))


def train_seeds(config, workdir: str, num_seeds: int, shared_order: bool = False,
                checkpoint_secs: float = 0.0, seed_devices: int = 1) -> dict:
  """Trains seeds `config.seed .. config.seed + num_seeds - 1` of `config` together.

  Resumes from the last checkpoint in `workdir`. Checkpoints are written at the
  end of an epoch once `checkpoint_secs` have passed since the last one (0:
  every epoch), at the last epoch, and on a stop signal. A seed whose loss becomes NaN
  or Inf is reported and keeps its (non-finite) metrics; the others go on.
  `seed_devices` shards the seeds over that many devices (`seed_mesh`).
  Returns {"seeds", "history": per-seed lists of epoch records, "params", "state"}.
  """
  check_seeds(num_seeds)
  mesh = seed_mesh(num_seeds, seed_devices)
  if mesh is None:
    place, by_seed = jax.device_put, (lambda tree: tree)
  else:
    from jax.sharding import NamedSharding, PartitionSpec
    replicated = NamedSharding(mesh, PartitionSpec())
    place = functools.partial(jax.device_put, device=replicated)
    by_seed = functools.partial(jax.device_put,
                                device=NamedSharding(mesh, PartitionSpec("seeds")))
  if parallel.is_parallel(config):
    raise ConfigError("parallel", dict(zip(("data", "model"), parallel.sizes(config))),
                      "seeds train together on one device; use parallel.data=parallel.model=1")
  if train.fixed_distortions(config) and num_seeds > 1:
    raise ConfigError("distortions.protocol", "fixed", "a fixed distorted set is drawn per run; "
                      "vmapped seeds would share one: use --seeds=1 per cell, or 'online'")
  run = train.prepare(config, workdir, place)
  if run.streams is not None:
    raise UserError(f"{run.spec.name} is streamed; seeds train together on resident datasets")
  task, tx, n_train, batch = run.task, run.tx, run.n_train, config.batch_size
  seeds = [config.seed + k for k in range(num_seeds)]

  state = by_seed(jax.vmap(functools.partial(task_lib.init_state, task, tx))(
      _stack([task.init_params(seed) for seed in seeds])))
  order_axis = None if shared_order else 0
  train_chunk = steps.make_train_chunk(task, tx, seeds=True, shared_order=shared_order)
  evaluate = jax.jit(jax.vmap(run.evaluate, in_axes=(0, None, None)))
  refresh_curvature = train.curvature_refresh(config, run)
  if refresh_curvature is not None:
    refresh_curvature = jax.jit(jax.vmap(refresh_curvature, in_axes=(0, None, None, order_axis)))
  seed_array = jnp.asarray(seeds)
  dropout_keys = by_seed(jax.vmap(jax.random.key)(seed_array + 2))
  order_of = functools.partial(steps.epoch_order, n=n_train, batch_size=batch)
  if shared_order:
    epoch_order = functools.partial(order_of, jax.random.key(config.seed + 1))
  else:
    epoch_order = functools.partial(jax.vmap(order_of, in_axes=(0, None)),
                                    jax.vmap(jax.random.key)(seed_array + 1))
  zero_sums = by_seed(jax.tree.map(lambda z: jnp.full((num_seeds,), z), steps.zero_sums()))

  ckpt = checkpoint.Checkpointer(workdir, config.checkpoint_keep)
  last, restored = ckpt.restore_latest({"train": state, "partial": zero_sums})
  state, partial = restored["train"], restored["partial"]
  done_steps = int(state["step"][0])
  steps_per_epoch = run.steps_per_epoch
  start_epoch, offset = done_steps // steps_per_epoch + 1, done_steps % steps_per_epoch
  histories = [metrics.truncate(seed_dir(workdir, k), start_epoch - 1, done_steps)
               for k in range(num_seeds)]
  finished = start_epoch > config.num_epochs
  if last is not None and not finished:
    print(f"Resuming {num_seeds} seeds from the checkpoint at step {done_steps} "
          f"(epoch {start_epoch}) in {ckpt.directory}", flush=True)
  if not finished or last is None:
    run_record.record_start(workdir, config, run.dataset, run.changed)
    for k, seed in enumerate(seeds):
      run_record.record_start(seed_dir(workdir, k), seed_config(config, seed), run.dataset,
                              run.changed)
  reported = set()
  last_save = time.perf_counter()

  writers = [metrics.MetricWriter(seed_dir(workdir, k)) for k in range(num_seeds)]
  try:
    with preemption.StopSignals() as stop:
      if not finished:
        stop.check_before(f"training (the checkpoint in {ckpt.directory} is unchanged)")
      for epoch in range(start_epoch, config.num_epochs + 1):
        order = place(epoch_order(epoch)) if shared_order else by_seed(epoch_order(epoch))
        if not offset and train.refreshes_curvature(config, epoch):
          state = refresh_curvature(state, run.train_images, run.train_labels, order)
        t0 = time.perf_counter()
        sums = partial if offset else zero_sums
        images_before = offset * batch
        for _, stop_at, images, labels, index in run.dispatches(config, epoch, offset, order):
          state, chunk_sums, _ = train_chunk(state, images, labels, index, dropout_keys)
          sums = steps.merge_sums(sums, chunk_sums)
          if stop.signum is not None and stop_at < steps_per_epoch:
            step = int(state["step"][0])
            ckpt.save(step, {"train": state, "partial": sums})
            raise stop.saved(f"at step {step} (epoch {epoch})", ckpt.directory)
        offset = 0
        sums = jax.device_get(sums)
        train_seconds = time.perf_counter() - t0
        test = jax.device_get(evaluate(state["params"], run.test_images, run.test_labels))
        seconds = time.perf_counter() - t0
        step = int(state["step"][0])
        learning_rate = float(run.learning_rate(step - 1))
        for k, writer in enumerate(writers):
          record = {
              "epoch": epoch, "step": step, "seed": seeds[k],
              "train_loss": float(sums["loss"][k] / sums["count"][k]),
              "train_accuracy": float(sums["correct"][k] / sums["count"][k]),
              **metrics.test_fields(test, k),
              "images_per_sec": float((sums["count"][k] - images_before) / train_seconds),
              "learning_rate": learning_rate, "seconds": seconds,
          }
          bad_step = int(sums["first_nonfinite"][k])
          if bad_step < steps.NO_STEP:
            record["nonfinite_step"] = bad_step
            if k not in reported:
              reported.add(k)
              print(f"seed {seeds[k]}: the loss or gradients became NaN or Inf at step "
                    f"{bad_step} (epoch {epoch}); its metrics are kept, the other seeds go on",
                    flush=True)
          writer.write(record)
          histories[k].append(record)
        accuracy = np.asarray(test["accuracy"])
        print(f"epoch {epoch:3d}/{config.num_epochs}  {num_seeds} seeds: train loss "
              f"{np.mean(sums['loss'] / sums['count']):.4f}  test acc {accuracy.mean():.4f} "
              f"+- {accuracy.std():.4f}  "
              f"{num_seeds * (int(sums['count'][0]) - images_before) / train_seconds:,.0f} img/s "
              f"({num_seeds} seeds)  {seconds:.1f}s", flush=True)
        if (epoch == config.num_epochs or stop.signum is not None
            or time.perf_counter() - last_save >= checkpoint_secs):
          ckpt.save(step, {"train": state, "partial": zero_sums})
          last_save = time.perf_counter()
        if stop.signum is not None and epoch < config.num_epochs:
          raise stop.saved(f"at the end of epoch {epoch} (step {step})", ckpt.directory)
  finally:
    for writer in writers:
      writer.close()
    ckpt.close()

  if not all(histories):
    raise UserError(f"{workdir} holds a checkpoint but no per-seed metrics; use a new --workdir")
  final_step = int(state["step"][0])
  for k in range(num_seeds):
    seed_ckpt = checkpoint.Checkpointer(seed_dir(workdir, k), config.checkpoint_keep)
    try:
      if seed_ckpt.latest_step() != final_step:
        seed_ckpt.save(final_step, {"train": _seed(state, k), "partial": steps.zero_sums()})
    finally:
      seed_ckpt.close()
  params = sum(x.size for x in jax.tree.leaves(task.params))
  return {"seeds": seeds, "history": histories, "params": params, "state": state,
          "data_source": run.dataset.source}

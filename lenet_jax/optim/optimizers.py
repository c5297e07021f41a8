"""optax optimizers and learning-rate schedules chosen by config."""

import optax

from lenet_jax.common.errors import ConfigError, check_choice, check_int, check_positive
from lenet_jax.optim.sdlm import sdlm

OPTIMIZERS = ("sgd", "adam", "adamw", "sdlm")
SCHEDULES = ("constant", "cosine", "piecewise")


def validate(config) -> None:
  check_choice("optimizer", config.optimizer, OPTIMIZERS)
  check_choice("schedule", config.schedule, SCHEDULES)
  check_positive("learning_rate", config.learning_rate)
  if config.weight_decay < 0:
    raise ConfigError("weight_decay", config.weight_decay, "must be >= 0")
  if not 0 <= config.momentum < 1:
    raise ConfigError("momentum", config.momentum, "must be in [0, 1)")
  if config.warmup_epochs < 0:
    raise ConfigError("warmup_epochs", config.warmup_epochs, "must be >= 0")
  if config.optimizer == "sdlm":
    if "sdlm" not in config:
      raise ConfigError("optimizer", "sdlm", "this config has no sdlm section (SDLM trains the "
                        "1998 digit networks: configs/lenet5_1998.py)")
    check_positive("sdlm.mu", config.sdlm.mu)
    check_choice("sdlm.curvature", config.sdlm.curvature, ("exact", "paper"))
    for key in ("samples", "period_epochs"):
      check_int(f"sdlm.{key}", config.sdlm[key])
  if config.schedule == "piecewise":
    epochs, values = tuple(config.piecewise_epochs), tuple(config.piecewise_values)
    if len(values) != len(epochs) or list(epochs) != sorted(epochs):
      raise ConfigError("piecewise_epochs", epochs, "needs one ascending epoch per value in "
                        "piecewise_values (the learning rate from that epoch on)")


def schedule(config, steps_per_epoch: int):
  """Learning rate per step.

  With `learning_rate_per_sample`, every rate in the config is the rate of a
  batch-1 update (as the paper's schedule is) and is multiplied by the batch
  size: one step on the mean gradient of B samples then moves the weights about
  as far as B per-sample steps would.
  """
  scale = config.batch_size if config.learning_rate_per_sample else 1
  lr = config.learning_rate * scale
  total = config.num_epochs * steps_per_epoch
  warmup = int(config.warmup_epochs * steps_per_epoch)
  if config.schedule == "cosine":
    return optax.warmup_cosine_decay_schedule(0.0, lr, warmup, max(total, warmup + 1))
  if config.schedule == "piecewise":
    # learning_rate until the first boundary, then piecewise_values[k] from epoch piecewise_epochs[k].
    boundaries = [int(e * steps_per_epoch) for e in config.piecewise_epochs]
    values = [lr] + [v * scale for v in config.piecewise_values]
    return optax.join_schedules([optax.constant_schedule(v) for v in values], boundaries)
  if warmup:
    return optax.join_schedules(
        [optax.linear_schedule(0.0, lr, warmup), optax.constant_schedule(lr)], [warmup])
  return optax.constant_schedule(lr)


def create(config, steps_per_epoch: int) -> optax.GradientTransformation:
  """The optimizer of a validated `config` (`lenet_jax.runs.validation`)."""
  lr = schedule(config, steps_per_epoch)
  if config.optimizer == "adamw":
    return optax.adamw(lr, weight_decay=config.weight_decay)
  if config.optimizer == "sdlm":
    tx = sdlm(lr, config.sdlm.mu)
  elif config.optimizer == "adam":
    tx = optax.adam(lr)
  else:
    tx = optax.sgd(lr, momentum=config.momentum or None, nesterov=config.nesterov)
  if config.weight_decay:
    tx = optax.chain(optax.add_decayed_weights(config.weight_decay), tx)
  return tx

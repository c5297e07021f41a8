"""optax optimizers and learning-rate schedules chosen by config.

Per-parameter learning rates and weight decays (`config.lr_multipliers`,
`config.weight_decay_multipliers`: the 2012 AlexNet code's epsB and wc, Caffe's lr_mult and
decay_mult) are optax.multi_transform over the parameters' names; SGD's momentum is optax's
(the velocity sums gradients, the rate scales it) or the paper's (AlexNet section 5: the
velocity sums rate-scaled steps, weight decay included), `config.momentum_form`.
"""

import fnmatch

import jax
import optax

from lenet_jax.common import trees
from lenet_jax.common.errors import ConfigError, check_choice, check_int, check_positive
from lenet_jax.optim.sdlm import sdlm

OPTIMIZERS = ("sgd", "adam", "adamw", "sdlm")
SCHEDULES = ("constant", "cosine", "piecewise")
MOMENTUM_FORMS = ("gradient", "step")


def _check_multipliers(key: str, pairs) -> None:
  if not isinstance(pairs, tuple) or not all(
      isinstance(p, tuple) and len(p) == 2 and isinstance(p[0], str)
      and isinstance(p[1], (int, float)) and not isinstance(p[1], bool) and p[1] >= 0
      for p in pairs):
    raise ConfigError(key, pairs, "((pattern, multiplier), ...): an fnmatch pattern of "
                      "parameter names ('*.bias', 'conv1.*') and a number >= 0; () for none")


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
  check_choice("momentum_form", config.momentum_form, MOMENTUM_FORMS)  # SGD's; others ignore it
  _check_multipliers("lr_multipliers", config.lr_multipliers)
  _check_multipliers("weight_decay_multipliers", config.weight_decay_multipliers)
  if config.optimizer == "sdlm" and (config.lr_multipliers or config.weight_decay_multipliers):
    raise ConfigError("optimizer", "sdlm", "SDLM's steps come from its curvature, not from "
                      "per-parameter multipliers: leave lr_multipliers and "
                      "weight_decay_multipliers empty")
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


def _optimizer(config, lr, weight_decay) -> optax.GradientTransformation:
  """The config's optimizer with learning rate `lr` (a schedule) and `weight_decay`."""
  if config.optimizer == "adamw":
    return optax.adamw(lr, weight_decay=weight_decay)
  if config.optimizer == "sdlm":
    tx = sdlm(lr, config.sdlm.mu)
  elif config.optimizer == "adam":
    tx = optax.adam(lr)
  elif config.momentum_form == "step" and config.momentum:
    # v <- momentum v - lr (decay w + grad); w <- w + v (the paper's section 5)
    tx = optax.chain(optax.scale_by_learning_rate(lr),
                     optax.trace(decay=config.momentum, nesterov=config.nesterov))
  else:
    tx = optax.sgd(lr, momentum=config.momentum or None, nesterov=config.nesterov)
  if weight_decay:
    tx = optax.chain(optax.add_decayed_weights(weight_decay), tx)
  return tx


def _multiplier(pairs, name: str) -> float:
  """The first multiplier whose pattern matches `name`; 1 where none does."""
  return next((float(m) for pattern, m in pairs if fnmatch.fnmatchcase(name, pattern)), 1.0)


def _label(lr_multiplier: float, decay_multiplier: float) -> str:
  return f"learning rate x{lr_multiplier}, weight decay x{decay_multiplier}"


def create(config, steps_per_epoch: int) -> optax.GradientTransformation:
  """The optimizer of a validated `config` (`lenet_jax.runs.validation`): one for every
  parameter, or with multipliers one per pair of multipliers, each parameter given to the
  one its name matches (optax.multi_transform)."""
  lr = schedule(config, steps_per_epoch)
  lr_pairs, wd_pairs = tuple(config.lr_multipliers), tuple(config.weight_decay_multipliers)
  if not lr_pairs and not wd_pairs:
    return _optimizer(config, lr, config.weight_decay)

  def labels(params):
    return jax.tree_util.tree_map_with_path(
        lambda path, _: _label(_multiplier(lr_pairs, trees.path_name(path)),
                               _multiplier(wd_pairs, trees.path_name(path))), params)

  groups = {(a, b) for a in {1.0, *(float(m) for _, m in lr_pairs)}
            for b in {1.0, *(float(m) for _, m in wd_pairs)}}
  return optax.multi_transform(
      {_label(a, b): _optimizer(config, lambda step, a=a: a * lr(step), b * config.weight_decay)
       for a, b in groups}, labels)

"""Checks of every config value a user can get wrong, each failing in one line."""

import numpy as np

from lenet_jax import data, models, optimizers, parallel
from lenet_jax.data.distortions import AFFINE, PROTOCOLS
from lenet_jax.errors import ConfigError, check_choice, check_int, check_positive


def validate(config) -> data.DatasetSpec:
  """Checks every config value a user can get wrong; returns the dataset spec."""
  check_int("batch_size", config.batch_size)
  check_int("eval_batch_size", config.eval_batch_size)
  check_int("num_epochs", config.num_epochs)
  check_int("steps_per_scan", config.steps_per_scan, minimum=0)
  check_int("checkpoint_keep", config.checkpoint_keep)
  check_int("seed", config.seed, minimum=0)
  for key in ("nesterov", "log_step_losses", "debug_nans", "distortions.enabled",
              "eval.ten_crop"):
    value = _get(config, key)
    if value is not None and not isinstance(value, bool):
      raise ConfigError(key, value, "must be True or False")
  if config.get("warmup_epochs", 0) < 0:
    raise ConfigError("warmup_epochs", config.warmup_epochs, "must be >= 0")
  distortions = config.get("distortions")
  if distortions is not None:
    for key in AFFINE + ("elastic_alpha",):  # elastic_alpha 0: no elastic field
      value = distortions.get(key, 0.0)
      limit = 1.0 if key in ("scale", "squeeze") else float("inf")
      if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < limit:
        raise ConfigError(f"distortions.{key}", value,
                          "must be >= 0" + (" and < 1" if limit == 1.0 else ""))
    check_positive("distortions.elastic_sigma", distortions.get("elastic_sigma", 4.0))
    check_choice("distortions.protocol", distortions.get("protocol", "online"), PROTOCOLS)
    check_int("distortions.copies", distortions.get("copies", 9))
  if "map_j" in config.model and not np.isfinite(config.model.map_j):
    raise ConfigError("model.map_j", config.model.map_j, "must be a finite number")
  if config.data.get("resize"):
    check_int("data.resize", config.data.resize, minimum=32)
    check_int("data.channels", config.data.channels)
  spec = data.validate(config.data)
  if _get(config, "eval.ten_crop") and not spec.stored_side:
    raise ConfigError("eval.ten_crop", True, "the ten patches are taken from a prepared set's "
                      "256x256 images: use --config.data.source=prepared")
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

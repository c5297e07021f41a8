"""Trains a model from a config file.

  python -m lenet_jax.main --config=configs/lenet5.py [--workdir=runs/x] [--config.num_epochs=5]
"""

import datetime
import os

import jax

from absl import flags
from ml_collections import config_flags

from lenet_jax import cli, train
from lenet_jax.errors import exit_on_user_error

_CONFIG = config_flags.DEFINE_config_file("config", None, "Training config file.",
                                          lock_config=True)
_WORKDIR = flags.DEFINE_string(
    "workdir", None, "Where checkpoints and metrics go; default runs/<config>-<time>. "
    "An existing workdir is resumed from its last checkpoint.")


def default_workdir(config_path: str) -> str:
  name = os.path.splitext(os.path.basename(config_path.split(":")[0]))[0]
  return os.path.join("runs", f"{name}-{datetime.datetime.now():%Y%m%d-%H%M%S}")


@exit_on_user_error
def main(argv):
  cli.begin(argv)
  workdir = _WORKDIR.value or default_workdir(flags.FLAGS["config"].config_filename)
  config = _CONFIG.value
  if config.get("debug_nans"):
    jax.config.update("jax_debug_nans", True)  # slow: re-runs ops to find the first NaN
  train.train_and_evaluate(config, workdir)


if __name__ == "__main__":
  cli.run(main)

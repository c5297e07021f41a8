"""Trains a model from a config file (lenet_jax/training/train.py).

  python -m lenet_jax.main --config=configs/lenet5.py [--workdir=runs/x] [--config.num_epochs=5]
"""

import datetime
import os

import jax
from absl import flags

from lenet_jax.common import cli
from lenet_jax.config import loading
from lenet_jax.training import train


def default_workdir(config_arg: str) -> str:
  return os.path.join("runs", f"{loading.name(config_arg)}-{datetime.datetime.now():%Y%m%d-%H%M%S}")


def main(argv):
  cli.begin(argv)
  config = cli.config()
  if config.debug_nans:
    jax.config.update("jax_debug_nans", True)  # slow: re-runs ops to find the first NaN
  train.train_and_evaluate(config, flags.FLAGS.workdir or default_workdir(cli.config_arg()))


def define_flags():
  flags.DEFINE_string(
      "workdir", None, "Where checkpoints and metrics go; default runs/<config>-<time>. An "
      "existing workdir is resumed from its last checkpoint.")


if __name__ == "__main__":
  cli.run(main, define_flags)

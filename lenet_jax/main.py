"""Trains a model from a config file (lenet_jax/training/train.py).

  python -m lenet_jax.main --config=configs/lenet5.py [--workdir=runs/x] [--config.num_epochs=5]
  python -m lenet_jax.main --config=configs/lenet5.py --profile_dir=/tmp/prof  # + a trace of 20 steps
"""

import datetime
import os

import jax
from absl import flags

from lenet_jax.config import cli
from lenet_jax.common.errors import UserError
from lenet_jax.config import loading
from lenet_jax.training import train


def default_workdir(config_arg: str) -> str:
  return os.path.join("runs", f"{loading.name(config_arg)}-{datetime.datetime.now():%Y%m%d-%H%M%S}")


def main(argv):
  cli.begin(argv)
  config = cli.config()
  if config.debug_nans:
    jax.config.update("jax_debug_nans", True)  # slow: re-runs ops to find the first NaN
  f = flags.FLAGS
  if f.profile_steps < 1:
    raise UserError(f"--profile_steps={f.profile_steps}: must be 1 or more")
  train.train_and_evaluate(config, f.workdir or default_workdir(cli.config_arg()),
                           profile=(f.profile_dir, f.profile_steps) if f.profile_dir else None)


def define_flags():
  flags.DEFINE_string(
      "workdir", None, "Where checkpoints and metrics go; default runs/<config>-<time>. An "
      "existing workdir is resumed from its last checkpoint.")
  flags.DEFINE_string(
      "profile_dir", None, "Also trace training steps with jax.profiler into this directory "
      "(Perfetto/TensorBoard), from the second training call on (the first compiles), and "
      "print the time per XLA operation.")
  flags.DEFINE_integer("profile_steps", 20, "How many steps --profile_dir traces (whole calls "
                       "of config.steps_per_scan steps).")


if __name__ == "__main__":
  cli.run(main, define_flags)

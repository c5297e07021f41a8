r"""Prepares a large image dataset once: the paper's fixed 256x256 images, stored raw so
that training reads them at random with no decoding (lenet_jax/data/prepare.py).

  python -m lenet_jax.prepare --config=configs/alexnet.py:data=imagenet2012 \
      --config.data.source=folder --config.data.dir=/data/imagenet --out=/data/imagenet256
  python -m lenet_jax.prepare --config=configs/alexnet.py:data=imagenette \
      --config.data.source=tfds --config.data.tfds_data_dir=/data/tfds --out=/data/imagenette256

Then train with --config.data.source=prepared --config.data.dir=OUT. A stopped or
killed preparation continues where it stopped when the same command is run again.
"""

import shlex
import sys

from absl import flags

from lenet_jax import data
from lenet_jax.common import preemption
from lenet_jax.config import cli
from lenet_jax.data import prepare


def main(argv):
  cli.begin(argv, out="the directory to write the prepared set to")
  config, out = cli.config(), flags.FLAGS.out
  spec, _ = data.validate(config.data)
  command = " ".join(["python -m lenet_jax.prepare"] + [shlex.quote(a) for a in sys.argv[1:]])
  with preemption.StopSignals() as stop:
    manifest = prepare.prepare(config.data, spec, out, command,
                               workers=config.data.prepare_workers, stop=stop)
  for line in prepare.summary(manifest, out):
    print(line, flush=True)


def define_flags():
  flags.DEFINE_string("out", None, "Directory to write the prepared set to (new, empty, or a "
                      "stopped preparation of the same input, which is continued).")


if __name__ == "__main__":
  cli.run(main, define_flags)

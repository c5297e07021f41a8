"""Prints the per-layer table of a config's model: output shape, weights and biases,
connections (the 1998 paper's count) and FLOPs (lenet_jax/models/summary.py).

  python -m lenet_jax.summary --config=configs/lenet5_1998.py
  python -m lenet_jax.summary --config=configs/alexnet.py:data=synthetic   # the 2012 paper's 1000 classes
"""

from lenet_jax.config import cli
from lenet_jax.models import summary
from lenet_jax.runs import validation


def main(argv):
  cli.begin(argv)
  config = cli.config()
  print(summary.summarize(config, validation.validate(config)), flush=True)


if __name__ == "__main__":
  cli.run(main, stop_anywhere="before the table was printed")

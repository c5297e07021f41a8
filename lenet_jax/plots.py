"""Learning-curve plots of runs (lenet_jax/runs/plots.py).

  python -m lenet_jax.plots --out=curves.png runs/a [runs/b/metrics.jsonl ...]

A workdir or its metrics.jsonl may be given.
"""

from absl import flags

from lenet_jax.config import cli
from lenet_jax.runs import plots


def main(argv):
  cli.begin(argv, positional=True)
  plots.plot_runs(argv[1:], flags.FLAGS.out)
  print(f"wrote {flags.FLAGS.out}", flush=True)


def define_flags():
  flags.DEFINE_string("out", "curves.png", "The PNG file to write (folders are made).")


if __name__ == "__main__":
  cli.run(main, define_flags, config=cli.NO_CONFIG, stop_anywhere="before --out was written")

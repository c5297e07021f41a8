r"""The figures people look at, from any run (lenet_jax/runs/figures.py).

  python -m lenet_jax.figures --workdir=RUN --out=DIR [--image=digit.png]

writes DIR/misclassified.png (the test images the run gets wrong, true->predicted, as
Fig. 8 of the 1998 paper), confusion.png (counts, colour row-normalised),
activations.png (one test image, or --image, through every stage: C1..OUTPUT or
conv1..fc8) and filters.png (the first layer's kernels; AlexNet's 96 in colour with
the two towers' 48 apart, as Fig. 3 of the 2012 paper). `--config.*` overrides the
run's config (e.g. --config.data.test_dir for another test split).
"""

import os

from absl import flags

from lenet_jax.config import cli
from lenet_jax.runs import figures, run_record


def main(argv):
  cli.begin(argv, out="the directory for the figures")
  out = flags.FLAGS.out
  shown = figures.write_all(cli.config(), flags.FLAGS.workdir, out, flags.FLAGS.image,
                            flags.FLAGS.misclassified)
  print(f"wrote {', '.join(os.path.join(out, f) for f in figures.FILES)}: "
        f"{shown['errors']} of {shown['total']} test images misclassified; stages "
        f"{', '.join(shown['stages'])}", flush=True)


def define_flags():
  flags.DEFINE_string("workdir", None, "A run directory.")
  flags.DEFINE_string("out", None, "Directory for the PNG files.")
  flags.DEFINE_string("image", None, "An image file for activations.png (default: the first "
                      "test image).")
  flags.DEFINE_integer("misclassified", 100, "At most this many misclassified images.")


if __name__ == "__main__":
  cli.run(main, define_flags, config=run_record.load_config,
          stop_anywhere="before every figure was written (each one written is whole)")

r"""A trained run on image files: top-5 classes, a layer's activations, nearest neighbours
(lenet_jax/runs/predict.py).

  python -m lenet_jax.predict --workdir=runs/bvlc_alexnet cat.jpg dog.png      # top-5 each
  python -m lenet_jax.predict --workdir=RUN --layer=fc7 --out=features.npy a.jpg b.jpg
  python -m lenet_jax.predict --workdir=RUN --neighbours=6 --out=neighbours.png a.jpg \
      [--config.data.source=prepared --config.data.dir=DIR]     # Figure 4 (right)

Images are prepared as the run's config says (a prepared set's 256x256 then the centre
227, Caffe's BGR and mean for imported weights; a digit run takes any picture of a
digit, made grey, bright on black and centred the MNIST way). `--config.*` overrides
the run's config (the training set the neighbours are searched in, for example).
"""

from absl import flags

from lenet_jax.config import cli
from lenet_jax.runs import predict, run_record


def main(argv):
  cli.begin(argv, positional=True)
  for line in predict.predict(cli.config(), flags.FLAGS.workdir, argv[1:], flags.FLAGS.top,
                              flags.FLAGS.layer, flags.FLAGS.neighbours, flags.FLAGS.out):
    print(line, flush=True)


def define_flags():
  flags.DEFINE_string("workdir", None, "A run directory (lenet_jax.main, "
                      "lenet_jax.import_weights).")
  flags.DEFINE_integer("top", 5, "Classes shown per image.")
  flags.DEFINE_string("layer", None, "Write this stage's activations (conv1..fc8, "
                      "C1..OUTPUT) to --out instead of predicting.")
  flags.DEFINE_integer(
      "neighbours", 0, "Draw, for each image, the K training images whose --layer (default: "
      "the last hidden layer) activations are nearest in Euclidean distance, into --out (PNG).")
  flags.DEFINE_string("out", None, "The .npy (--layer) or .png (--neighbours) to write.")


if __name__ == "__main__":
  cli.run(main, define_flags, config=run_record.load_config,
          stop_anywhere="before --out was written")

r"""Makes a run directory from weights trained elsewhere (lenet_jax/weights/import_weights.py).

  python -m lenet_jax.import_weights --format=bvlc_npy --file=bvlc_alexnet.npy \
      --workdir=runs/bvlc_alexnet [--config=configs/alexnet.py:data=imagenet2012]

The run takes Caffe's conventions (LRN across groups with k=1, BGR, 0-255 less the
mean 104/117/123) and is then evaluated, fine-tuned or used by predict like any run.
"""

from absl import flags

from lenet_jax.config import cli
from lenet_jax.weights import import_weights


def main(argv):
  cli.begin(argv, format="bvlc_npy", file="the weights file",
            workdir="the run directory to create")
  file, workdir = flags.FLAGS.file, flags.FLAGS.workdir
  result = import_weights.import_bvlc(cli.config(), file, workdir)
  print(f"imported {file} (sha256 {result['sha256'][:16]}, {result['classes']} classes) into "
        f"{workdir}: evaluate, fine-tune (--config.init_from) or predict from it", flush=True)


def define_flags():
  flags.DEFINE_enum("format", None, ["bvlc_npy"], "bvlc_npy: Caffe's bvlc_alexnet as a "
                    "pickled dict of layer -> [weights, biases] (bvlc_alexnet.npy).")
  flags.DEFINE_string("file", None, "The weights file.")
  flags.DEFINE_string("workdir", None, "The run directory to create.")


if __name__ == "__main__":
  cli.run(main, define_flags, default_config="configs/alexnet.py:data=imagenet2012",
          lock_config=False)

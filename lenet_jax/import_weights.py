r"""Makes a run directory from weights trained elsewhere (lenet_jax/pretrained.py).

  python -m lenet_jax.import_weights --format=bvlc_npy --file=bvlc_alexnet.npy \
      --workdir=runs/bvlc_alexnet [--config=configs/alexnet.py:data=imagenet2012]

The run takes Caffe's conventions (LRN across groups with k=1, BGR, 0-255 less the
mean 104/117/123) and is then evaluated, fine-tuned or used by predict like any run.
"""

from absl import flags
from ml_collections import config_flags

from lenet_jax import cli, pretrained
from lenet_jax.errors import exit_on_user_error

_CONFIG = config_flags.DEFINE_config_file(
    "config", "configs/alexnet.py:data=imagenet2012", "The model and dataset the weights are "
    "for (their classes must match fc8).", lock_config=False)
_FORMAT = flags.DEFINE_enum("format", None, ["bvlc_npy"], "bvlc_npy: Caffe's bvlc_alexnet as "
                            "a pickled dict of layer -> [weights, biases] (bvlc_alexnet.npy).")
_FILE = flags.DEFINE_string("file", None, "The weights file.")
_WORKDIR = flags.DEFINE_string("workdir", None, "The run directory to create.")


@exit_on_user_error
def main(argv):
  cli.begin(argv, format="bvlc_npy", file="the weights file",
            workdir="the run directory to create")
  result = pretrained.import_bvlc(_CONFIG.value, _FILE.value, _WORKDIR.value)
  print(f"imported {_FILE.value} (sha256 {result['sha256'][:16]}, {result['classes']} classes) "
        f"into {_WORKDIR.value}: evaluate, fine-tune (--config.init_from) or predict from it",
        flush=True)


if __name__ == "__main__":
  cli.run(main, require_config=False)

r"""Makes a run directory from weights trained elsewhere (lenet_jax/weights/import_weights.py).

  python -m lenet_jax.import_weights --format=bvlc_npy --file=bvlc_alexnet.npy \
      --workdir=runs/bvlc_alexnet [--config=configs/alexnet.py:data=imagenet2012]
  python -m lenet_jax.import_weights --format=safetensors --file=alexnet.safetensors \
      --workdir=runs/tv_alexnet            # torchvision's AlexNet, or a lenet_jax export
  python -m lenet_jax.import_weights --format=torch --file=alexnet.pth --workdir=...

bvlc_npy takes Caffe's conventions (LRN across groups with k=1, BGR, 0-255 less the mean
104/117/123). safetensors and torch read a state_dict in PyTorch's layout into the network
of the config lenet_jax's export wrote beside the file (FILE.json), else of
configs/alexnet_torchvision.py; --config names another. The run is then evaluated,
fine-tuned or used by predict like any run.
"""

import sys

from absl import flags

from lenet_jax.config import cli
from lenet_jax.weights import import_weights


def main(argv):
  cli.begin(argv, format="bvlc_npy, safetensors or torch", file="the weights file",
            workdir="the run directory to create")
  fmt, file, workdir = flags.FLAGS.format, flags.FLAGS.file, flags.FLAGS.workdir
  config = import_weights.command_config(fmt, file, cli.config(), sys.argv)
  result = import_weights.import_file(fmt, config, file, workdir)
  print(f"imported {file} (sha256 {result['sha256'][:16]}, {result['classes']} classes) into "
        f"{workdir}: evaluate, fine-tune (--config.init_from) or predict from it", flush=True)


def define_flags():
  flags.DEFINE_enum("format", None, list(import_weights.IMPORTERS),
                    "bvlc_npy: Caffe's bvlc_alexnet as a pickled dict of layer -> [weights, "
                    "biases] (bvlc_alexnet.npy); safetensors: an AlexNet state_dict in "
                    "PyTorch's layout (torchvision's keys, or lenet_jax's export); torch: the "
                    "same as a .pth (needs pip install 'lenet_jax[torch]').")
  flags.DEFINE_string("file", None, "The weights file.")
  flags.DEFINE_string("workdir", None, "The run directory to create.")


if __name__ == "__main__":
  cli.run(main, define_flags, default_config="configs/alexnet.py:data=imagenet2012",
          lock_config=False)

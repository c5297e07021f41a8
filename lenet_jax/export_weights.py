r"""Writes a run's weights in PyTorch's layout (lenet_jax/weights/export_weights.py).

  python -m lenet_jax.export_weights --workdir=runs/x --format=safetensors \
      --out=alexnet.safetensors                  # + alexnet.safetensors.json, the config
  python -m lenet_jax.export_weights --workdir=runs/x --format=torch --out=alexnet.pth

An AlexNet run only: torchvision's keys (features.0.weight ... classifier.6.bias) for a
one-tower network without normalisation layers (configs/alexnet_torchvision.py), else
conv1.weight ... fc8.bias with Caffe's two towers as groups=2 convolutions. The config
beside the file lets lenet_jax.import_weights read it back into the same network.
"""

from absl import flags

from lenet_jax.config import cli
from lenet_jax.runs import run_record
from lenet_jax.weights import export_weights, import_weights


def main(argv):
  cli.begin(argv, format="safetensors or torch", out="the file to write")
  out = flags.FLAGS.out
  result = export_weights.export_run(cli.config(), flags.FLAGS.workdir, flags.FLAGS.format, out)
  print(f"exported step {result['step']} of {flags.FLAGS.workdir} to {out} ({result['tensors']} "
        f"tensors, {result['keys']} keys) and its config to {result['config']}", flush=True)


def define_flags():
  flags.DEFINE_string("workdir", None, "A run directory (lenet_jax.main, "
                      "lenet_jax.import_weights).")
  flags.DEFINE_enum("format", None, list(import_weights.PYTORCH_FILES),
                    "safetensors: the format model hubs share weights in; torch: torch.save's "
                    ".pth (needs pip install 'lenet_jax[torch]').")
  flags.DEFINE_string("out", None, "The weights file to write; its config goes to OUT.json.")


if __name__ == "__main__":
  cli.run(main, define_flags, config=run_record.load_config)

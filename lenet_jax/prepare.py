r"""Prepares a large image dataset once: the paper's fixed 256x256 images, stored raw so
that training reads them at random with no decoding (lenet_jax/data/preparation.py).

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
from ml_collections import config_flags

from lenet_jax import cli, data, preemption
from lenet_jax.data import preparation
from lenet_jax.errors import exit_on_user_error

_CONFIG = config_flags.DEFINE_config_file("config", None, "Config file naming the dataset "
                                          "(its config.data.* keys say where to read it).",
                                          lock_config=True)
_OUT = flags.DEFINE_string("out", None, "Directory to write the prepared set to (new, empty, or "
                           "a stopped preparation of the same input, which is continued).")


def summary(manifest: dict, out: str) -> list[str]:
  """The lines printed when a preparation finishes."""
  side = manifest["image_shape"][0]
  sizes = ", ".join(f"{split} {s['size']:,}" for split, s in manifest["splits"].items())
  total = sum(s["size"] for s in manifest["splits"].values())
  lines = [f"prepared {manifest['dataset']} from {manifest['source']} ({manifest['location']}) "
           f"into {out}: {sizes} images of {side}x{side}x3, {len(manifest['classes'])} classes, "
           f"{total * (side * side * 3 + 4) / 1e9:,.2f} GB; checksum {manifest['checksum'][:16]}"]
  skipped = [s for split in manifest["splits"].values() for s in split["skipped"]]
  if skipped:
    lines.append(f"warning: {len(skipped)} unreadable file(s) skipped, listed in "
                 f"{out}/manifest.json; the first: {skipped[0][0]} ({skipped[0][1]})")
  return lines


@exit_on_user_error
def main(argv):
  cli.begin(argv, out="the directory to write the prepared set to")
  config = _CONFIG.value
  spec = data.validate(config.data)
  command = " ".join(["python -m lenet_jax.prepare"] + [shlex.quote(a) for a in sys.argv[1:]])
  with preemption.StopSignals() as stop:
    manifest = preparation.prepare(config.data, spec, _OUT.value, command,
                                   workers=config.data.get("prepare_workers", 0), stop=stop)
  for line in summary(manifest, _OUT.value):
    print(line, flush=True)


if __name__ == "__main__":
  cli.run(main)

r"""A trained run on image files: top-5 classes, a layer's activations, nearest neighbours.

  python -m lenet_jax.predict --workdir=runs/bvlc_alexnet cat.jpg dog.png      # top-5 each
  python -m lenet_jax.predict --workdir=RUN --layer=fc7 --out=features.npy a.jpg b.jpg
  python -m lenet_jax.predict --workdir=RUN --neighbours=6 --out=neighbours.png a.jpg \
      [--config.data.source=prepared --config.data.dir=DIR]     # Figure 4 (right)

Images are prepared as the run's config says (a prepared set's 256x256 then the centre
227, Caffe's BGR and mean for imported weights; a digit run takes any picture of a
digit, made grey, bright on black and centred the MNIST way). `--config.*` overrides
the run's config (the training set the neighbours are searched in, for example).
"""


import os

import numpy as np
from absl import flags

from lenet_jax import cli, data, inference, preemption, train
from lenet_jax.errors import UserError, exit_on_user_error
from lenet_jax.logs import quiet_libraries

_WORKDIR = flags.DEFINE_string("workdir", None, "A run directory (lenet_jax.main, "
                               "lenet_jax.import_weights).")
_TOP = flags.DEFINE_integer("top", 5, "Classes shown per image.")
_LAYER = flags.DEFINE_string("layer", None, "Write this stage's activations (conv1..fc8, "
                             "C1..OUTPUT) to --out instead of predicting.")
_NEIGHBOURS = flags.DEFINE_integer(
    "neighbours", 0, "Draw, for each image, the K training images whose --layer (default: "
    "the last hidden layer) activations are nearest in Euclidean distance, into --out (PNG).")
_OUT = flags.DEFINE_string("out", None, "The .npy (--layer) or .png (--neighbours) to write.")


def training_pool(config, spec):
  """(uint8 images, a function giving any rows' images) of the run's training split."""
  if spec.stored_side:
    from lenet_jax.data import prepared
    split = prepared.PreparedSplit(config.data.dir, spec.splits[0])
    return len(split), lambda rows: split.read(rows)[0]
  if spec.streamed:
    raise UserError("--neighbours searches a resident or prepared training set; prepare "
                    f"{spec.name} first (python -m lenet_jax.prepare)")
  images = data.load(config.data, ("train",)).split("train")[0]
  return len(images), lambda rows: images[rows]


@exit_on_user_error
def main(argv):
  quiet_libraries()
  paths = argv[1:]
  if not paths:
    raise UserError("name at least one image file to predict")
  if (_LAYER.value or _NEIGHBOURS.value) and not _OUT.value:
    raise UserError("--out is required with --layer or --neighbours")
  config = flags.FLAGS.config
  step, state, task = train.load_state(config, _WORKDIR.value)
  spec, params = task.spec, state["params"]
  images = inference.load_images(paths, config, spec)
  if _NEIGHBOURS.value:
    layer = _LAYER.value or inference.stage_names(task, params)[-2]
    count, read = training_pool(config, spec)
    query = inference.activations(task, params, images, layer)
    with preemption.StopSignals() as stop:
      best = inference.nearest_in_chunks(
          query, count, lambda rows: inference.activations(task, params, read(rows), layer),
          _NEIGHBOURS.value, stop=stop)
    rows = np.unique(best)
    inference.neighbours_png(_OUT.value, images, read(rows), np.searchsorted(rows, best),
                             titles=[os.path.basename(p) for p in paths])
    print(f"wrote {_OUT.value}: {_NEIGHBOURS.value} nearest of {count} training images by "
          f"{layer} for each of {len(paths)} images", flush=True)
    return
  if _LAYER.value:
    features = inference.activations(task, params, images, _LAYER.value)
    np.save(_OUT.value, features)
    print(f"wrote {_OUT.value}: {_LAYER.value} activations {features.shape} of "
          f"{len(paths)} images (checkpoint at step {step})", flush=True)
    return
  names = inference.class_names(config, spec)
  indices, probs = inference.top_k(task, params, images, _TOP.value)
  for path, row, p in zip(paths, indices, probs):
    print(f"{path}: " + ", ".join(f"{names[i]} {100 * q:.1f}%" for i, q in zip(row, p)),
          flush=True)


if __name__ == "__main__":
  cli.run_on_a_run(main, _WORKDIR)

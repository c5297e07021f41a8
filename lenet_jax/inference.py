"""A trained run applied to image files: the preprocessing its config implies, class
names, top-k predictions, one layer's activations, and nearest neighbours by a layer's
activations (Krizhevsky et al. 2012, section 6.1 and Figure 4: training images whose
last hidden layer's vectors are closest in Euclidean distance to a test image's)."""

import functools
import os

import jax
import jax.numpy as jnp
import numpy as np

from lenet_jax.data import digit_box, preparation, streaming
from lenet_jax.errors import UserError, first_line

FASHION = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker",
           "Bag", "Ankle boot")
CIFAR10 = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
           "truck")


def class_names(config, spec) -> list[str]:
  """Names of the run's classes: a prepared set's folders, ImageNet's WordNet ids (the
  list that ships with TFDS), Fashion-MNIST's and CIFAR-10's names, digits otherwise."""
  if spec.stored_side:
    from lenet_jax.data import prepared
    return list(prepared.read_manifest(config.data.dir)["classes"])
  if spec.name in ("imagenet2012", "imagenette"):
    try:
      import tensorflow_datasets as tfds
      return list(tfds.builder(spec.tfds_name).info.features["label"].names)
    except Exception:  # no TFDS here: numbers
      pass
  named = {"fashion_mnist": FASHION, "cifar10": CIFAR10}.get(spec.name)
  return list(named) if named else [str(i) for i in range(spec.num_classes)]


def _open(path: str) -> np.ndarray:
  try:
    with open(path, "rb") as f:
      return streaming.decode(f.read())
  except OSError as e:
    raise UserError(f"{path} cannot be read as an image ({first_line(e)})") from None


def mnist_style(rgb: np.ndarray, size: int = 28, box: int = 20) -> np.ndarray:
  """A photo or drawing of one digit as MNIST's were made: grey, ink bright on black,
  the ink's bounding box scaled to fit `box` x `box`, centred by its centre of mass in
  `size` x `size` (LeCun et al. 1998, section III.A). [size, size, 1] uint8."""
  from PIL import Image
  grey = np.asarray(Image.fromarray(rgb).convert("L"), np.float32)
  if grey.mean() > 127:  # dark ink on a light page
    grey = 255 - grey
  ink = grey > 0.25 * grey.max() if grey.max() > 0 else np.zeros_like(grey, bool)
  if not ink.any():
    return np.zeros((size, size, 1), np.uint8)
  rows, cols = np.nonzero(ink)
  crop = grey[rows.min():rows.max() + 1, cols.min():cols.max() + 1]
  scale = box / max(crop.shape)
  shape = (max(1, round(crop.shape[1] * scale)), max(1, round(crop.shape[0] * scale)))
  small = np.asarray(Image.fromarray(crop.astype(np.uint8)).resize(shape, Image.LANCZOS),
                     np.float32)
  out = np.zeros((size, size), np.float32)
  total = small.sum()
  cy, cx = ((np.indices(small.shape) * small).reshape(2, -1).sum(1) / total if total > 0
            else np.array(small.shape) / 2)
  top = int(np.clip(round(size / 2 - cy), 0, size - small.shape[0]))
  left = int(np.clip(round(size / 2 - cx), 0, size - small.shape[1]))
  out[top:top + small.shape[0], left:left + small.shape[1]] = small
  return np.clip(out, 0, 255).astype(np.uint8)[..., None]


def load_images(paths, config, spec) -> np.ndarray:
  """uint8 [N, H, W, C] as the run's input pipeline gives them to the model's device
  side: a prepared set's fixed 256x256 (the device crops), a streamed set's centre
  crop, a digit set's MNIST-style 28x28, or the dataset's stored size."""
  out = []
  for path in paths:
    image = _open(path)
    if spec.stored_side:
      image = preparation.fixed_size(image, spec.stored_side)
    elif spec.streamed:
      image = streaming.center_crop(streaming.resize_shorter_side(
          image, config.data.get("shorter_side", streaming.SHORTER_SIDE)), spec.image_shape[0])
    elif spec.image_shape[-1] == 1:
      image = mnist_style(image, spec.image_shape[0])
      if config.data.get("digit_size", 0):  # as the run's digits were loaded (LeNet-1)
        image = digit_box.fit(image[None], config.data.digit_size)[0]
    else:
      from PIL import Image
      h, w = spec.image_shape[:2]
      image = np.asarray(Image.fromarray(image).resize((w, h), Image.BILINEAR))
    out.append(np.ascontiguousarray(image))
  return np.stack(out)


def top_k(task, params, images, k: int = 5):
  """(indices [N, k], probabilities [N, k]) of the k most probable classes."""
  probs = jax.nn.softmax(task.logits(params, jnp.asarray(images)), axis=-1)
  k = min(k, probs.shape[-1])
  values, indices = jax.lax.top_k(probs, k)
  return np.asarray(indices), np.asarray(values)


def stage_names(task, params) -> list[str]:
  return [name for name, _ in task.model(params).stages()]


@functools.lru_cache(maxsize=32)
def _stage_output(task, layer: str):
  """jit(params, uint8 images) -> stage `layer`'s outputs, made once per task and layer
  (a search over a training set calls it once a chunk)."""

  @jax.jit
  def run(params, x):
    x, _ = task._inputs(x, False, None)
    for name, stage in task.model(params).stages():
      x = stage(x)
      if name == layer:
        return x.astype(jnp.float32)

  return run


def activations(task, params, images, layer: str, batch: int = 64) -> np.ndarray:
  """The outputs of stage `layer` (conv1..fc8, C1..OUTPUT) for uint8 `images`."""
  names = stage_names(task, params)
  if layer not in names:
    raise UserError(f"--layer={layer}: the model's stages are {', '.join(names)}")
  run = _stage_output(task, layer)
  return np.concatenate([np.asarray(run(params, jnp.asarray(images[i:i + batch])))
                         for i in range(0, len(images), batch)])


def nearest_in_chunks(query: np.ndarray, count: int, features_of, k: int,
                      chunk: int = 1024, stop=None) -> np.ndarray:
  """Indices [Q, k] of the `k` rows of a pool of `count` nearest to each query row
  (Euclidean), the pool's features given a chunk at a time by `features_of(rows)` (a
  training set too large to hold its features at once). `stop`: a
  `preemption.StopSignals`, checked before each chunk."""
  q = query.reshape(len(query), -1)
  best_d = np.full((len(q), 0), np.inf)
  best_i = np.zeros((len(q), 0), int)
  for start in range(0, count, chunk):
    if stop is not None:
      stop.check_before(f"searching images {start:,}-{min(start + chunk, count):,} of "
                        f"{count:,}; nothing was written")
    rows = np.arange(start, min(start + chunk, count))
    f = features_of(rows).reshape(len(rows), -1)
    d = np.square(q).sum(1)[:, None] - 2 * q @ f.T + np.square(f).sum(1)[None, :]
    best_d = np.concatenate([best_d, d], 1)
    best_i = np.concatenate([best_i, np.broadcast_to(rows, d.shape)], 1)
    keep = np.argsort(best_d, axis=1, kind="stable")[:, :k]
    best_d, best_i = (np.take_along_axis(a, keep, 1) for a in (best_d, best_i))
  return best_i


def neighbours_png(path: str, queries: np.ndarray, pool: np.ndarray, index: np.ndarray,
                   titles=None) -> None:
  """A grid: each row a query image, then its neighbours in order (Figure 4, right)."""
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  rows, k = index.shape
  fig, axes = plt.subplots(rows, k + 1, figsize=(1.6 * (k + 1), 1.7 * rows), squeeze=False)
  for r in range(rows):
    shown = [queries[r]] + [pool[j] for j in index[r]]
    for c, image in enumerate(shown):
      ax = axes[r, c]
      ax.imshow(image[..., 0] if image.shape[-1] == 1 else image,
                cmap="gray" if image.shape[-1] == 1 else None)
      ax.set_xticks([]), ax.set_yticks([])
      if r == 0:
        ax.set_title("query" if c == 0 else f"{c}", fontsize=8)
    if titles is not None:
      axes[r, 0].set_ylabel(titles[r], fontsize=7)
  fig.tight_layout()
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  fig.savefig(path, dpi=110)
  plt.close(fig)

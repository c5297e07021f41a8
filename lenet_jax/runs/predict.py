"""A trained run applied to image files (`python -m lenet_jax.predict`): the
preprocessing its config implies, class names, top-k predictions, one layer's
activations, and nearest neighbours by a layer's activations (Krizhevsky et al. 2012,
section 6.1 and Figure 4: training images whose last hidden layer's vectors are closest
in Euclidean distance to a test image's)."""

import functools
import importlib.util
import io
import os

import jax
import jax.numpy as jnp
import numpy as np

from lenet_jax import data
from lenet_jax.common import files, preemption
from lenet_jax.common.errors import UserError, first_line
from lenet_jax.data import digit_box, prepare, streaming
from lenet_jax.runs import load

FASHION = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker",
           "Bag", "Ankle boot")
CIFAR10 = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
           "truck")


def _tfds_file(relative: str) -> str | None:
  """A file that ships inside the installed tensorflow-datasets package, or None."""
  found = importlib.util.find_spec("tensorflow_datasets")
  if found is None or not found.submodule_search_locations:
    return None
  path = os.path.join(list(found.submodule_search_locations)[0], relative)
  return path if os.path.isfile(path) else None


@functools.lru_cache(maxsize=1)
def imagenet_names() -> dict:
  """{WordNet id: English name} of ImageNet's 1,000 classes, from the lists TFDS ships:
  imagenet2012's labels.txt (the ids in TFDS's label order) and siscore's
  IMAGENET_LABELS_LIST (the names in that order); the first synonym of each name
  ('tench' for 'tench, Tinca tinca'). {} when tensorflow-datasets is not installed."""
  ids_path = _tfds_file(os.path.join("datasets", "imagenet2012", "labels.txt"))
  try:
    from tensorflow_datasets.datasets.siscore import labels as siscore_labels
  except ImportError:
    return {}
  if ids_path is None:
    return {}
  with open(ids_path) as f:
    ids = f.read().split()
  names = siscore_labels.IMAGENET_LABELS_LIST
  if len(ids) != len(names):
    return {}
  return {wnid: name.split(",")[0].strip() for wnid, name in zip(ids, names)}


def _english(ids: list[str]) -> list[str]:
  """ImageNet WordNet ids as English names where every id is known, else as they are."""
  names = imagenet_names()
  return [names[i] for i in ids] if ids and all(i in names for i in ids) else ids


def class_names(config, resolved) -> list[str]:
  """Names of the run's classes: a prepared set's folders (English for ImageNet's WordNet
  ids), ImageNet's and Imagenette's English names, Fashion-MNIST's and CIFAR-10's,
  digits otherwise."""
  spec = resolved.spec
  if resolved.manifest is not None:
    return _english(list(resolved.manifest["classes"]))
  if spec.name == "imagenet2012" and imagenet_names():
    return list(imagenet_names().values())
  if spec.name == "imagenette":
    path = _tfds_file(os.path.join("image_classification", "imagenette_labels.txt"))
    if path is not None:
      with open(path) as f:
        return _english(f.read().split())
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


def load_images(paths, config, resolved) -> np.ndarray:
  """uint8 [N, H, W, C] as the run's input pipeline gives them to the model's device
  side: a prepared set's fixed 256x256 (the device crops), a streamed set's centre
  crop, a digit set's MNIST-style 28x28, or the dataset's stored size."""
  spec = resolved.spec
  out = []
  for path in paths:
    image = _open(path)
    if spec.stored_side:
      image = prepare.fixed_size(image, spec.stored_side)
    elif spec.streamed:
      image = streaming.center_crop(streaming.resize_shorter_side(
          image, config.data.shorter_side), spec.image_shape[0])
    elif spec.image_shape[-1] == 1:
      image = mnist_style(image, spec.image_shape[0])
      if resolved.digit_size:  # as the run's digits were loaded (LeNet-1)
        image = digit_box.fit(image[None], resolved.digit_size)[0]
    else:
      from PIL import Image
      h, w = spec.image_shape[:2]
      image = np.asarray(Image.fromarray(image).resize((w, h), Image.BILINEAR))
    out.append(np.ascontiguousarray(image))
  return np.stack(out)


def top_k(task, variables, images, k: int = 5):
  """(indices [N, k], probabilities [N, k]) of the k most probable classes."""
  probs = jax.nn.softmax(task.logits(variables, jnp.asarray(images)), axis=-1)
  k = min(k, probs.shape[-1])
  values, indices = jax.lax.top_k(probs, k)
  return np.asarray(indices), np.asarray(values)


def _stages(model) -> list:
  """(name, stage) of the model's paper stages; a model without them (the model contract,
  lenet_jax/models/registry.py) is one stage, its logits."""
  if hasattr(model, "stages"):
    return model.stages()
  return [("logits", lambda x: model(x, train=False))]


def stage_names(task, variables) -> list[str]:
  return [name for name, _ in _stages(task.model(variables))]


@functools.lru_cache(maxsize=32)
def _stage_output(task, layer: str):
  """jit(variables, uint8 images) -> stage `layer`'s outputs, made once per task and layer
  (a search over a training set calls it once a chunk)."""

  @jax.jit
  def run(variables, x):
    x, _ = task._inputs(x, False, None)
    for name, stage in _stages(task.model(variables)):
      x = stage(x)
      if name == layer:
        return x.astype(jnp.float32)

  return run


def activations(task, variables, images, layer: str, batch: int = 64) -> np.ndarray:
  """The outputs of stage `layer` (conv1..fc8, C1..OUTPUT) for uint8 `images`."""
  names = stage_names(task, variables)
  if layer not in names:
    raise UserError(f"--layer={layer}: the model's stages are {', '.join(names)}")
  run = _stage_output(task, layer)
  return np.concatenate([np.asarray(run(variables, jnp.asarray(images[i:i + batch])))
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
  files.save_figure(fig, path, "--out", dpi=110)


def training_pool(config, resolved):
  """(the number of training images, a function giving any rows' uint8 images) of the
  run's training split: a resident one loaded whole, a prepared one read by rows."""
  spec = resolved.spec
  if spec.stored_side:
    from lenet_jax.data import prepared
    split = prepared.PreparedSplit(config.data.dir, spec.splits[0], resolved.manifest)
    return len(split), lambda rows: split.read(rows)[0]
  if spec.streamed:
    raise UserError("--neighbours searches a resident or prepared training set; prepare "
                    f"{spec.name} first (python -m lenet_jax.prepare)")
  images = data.load(config.data, resolved, ("train",)).split("train")[0]
  return len(images), lambda rows: images[rows]


def predict(config, workdir: str, paths, top: int = 5, layer: str | None = None,
            neighbours: int = 0, out: str | None = None) -> list[str]:
  """What `python -m lenet_jax.predict` does for image files `paths`: the `top` classes
  of each (a line each), or `layer`'s activations into `out` (.npy), or with
  `neighbours` the nearest training images into `out` (.png). Returns the lines to print."""
  if not paths:
    raise UserError("name at least one image file to predict")
  if (layer or neighbours) and not out:
    raise UserError("--out is required with --layer or --neighbours")
  if out:
    files.writable_file(out, "--out")
  step, state, task = load.load_state(config, workdir)
  resolved, variables = task.resolved, task.variables(state)
  images = load_images(paths, config, resolved)
  if neighbours:
    layer = layer or stage_names(task, variables)[max(-2, -len(stage_names(task, variables)))]
    count, read = training_pool(config, resolved)
    query = activations(task, variables, images, layer)
    with preemption.StopSignals() as stop:
      best = nearest_in_chunks(query, count,
                               lambda rows: activations(task, variables, read(rows), layer),
                               neighbours, stop=stop)
    rows = np.unique(best)
    neighbours_png(out, images, read(rows), np.searchsorted(rows, best),
                   titles=[os.path.basename(p) for p in paths])
    return [f"wrote {out}: {neighbours} nearest of {count} training images by {layer} for "
            f"each of {len(paths)} images"]
  if layer:
    features = activations(task, variables, images, layer)
    buffer = io.BytesIO()
    np.save(buffer, features)
    try:
      files.write_atomic(out, buffer.getvalue())
    except OSError as e:
      raise UserError(f"cannot write --out={out} ({e.strerror})") from None
    return [f"wrote {out}: {layer} activations {features.shape} of {len(paths)} images "
            f"(checkpoint at step {step})"]
  names = class_names(config, resolved)
  indices, probs = top_k(task, variables, images, top)
  return [f"{path}: " + ", ".join(f"{names[i]} {100 * q:.1f}%" for i, q in zip(row, p))
          for path, row, p in zip(paths, indices, probs)]

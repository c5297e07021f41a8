"""The pictures people look at in the two papers, from any run (`python -m
lenet_jax.figures`): the misclassified test images (LeCun et al. 1998, Fig. 8), the
confusion matrix, one image's activations stage by stage, and the first layer's kernels
(Krizhevsky et al. 2012, Fig. 3: the 96 kernels of conv1, the two GPUs' 48 apart)."""

import os

import jax
import jax.numpy as jnp
import numpy as np

from lenet_jax import data
from lenet_jax.common import files, preemption
from lenet_jax.runs import load, predict

FILES = ("misclassified.png", "confusion.png", "activations.png", "filters.png")


def _plt():
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  return plt


def _show(ax, image, cmap="gray"):
  image = np.asarray(image)
  ax.imshow(image[..., 0] if image.ndim == 3 and image.shape[-1] == 1 else image,
            cmap=cmap if image.ndim == 2 or image.shape[-1] == 1 else None)
  ax.set_xticks([]), ax.set_yticks([])


def test_batches(config, resolved, batch: int = 1000):
  """(uint8 images, labels) of the run's test split, a batch at a time."""
  if resolved.spec.streamed:
    yield from data.streams(config, resolved)[0][1].epoch(0)
    return
  images, labels = data.load(config.data, resolved, ("test",)).split("test")
  for start in range(0, len(labels), batch):
    yield images[start:start + batch], labels[start:start + batch]


def predict_split(task, variables, batches, keep: int = 100, stop=None):
  """(labels, predictions) of every test image, and up to `keep` misclassified
  (images, labels, predictions) in the split's order. `stop`: a
  `preemption.StopSignals`, checked before each batch."""
  logits = jax.jit(lambda v, x: task.logits(v, x))
  labels, predicted, wrong = [], [], []
  for images, y in batches:
    if stop is not None:
      stop.check_before(f"scoring test image {sum(map(len, labels)):,}; no figure was written")
    p = np.asarray(jnp.argmax(logits(variables, jnp.asarray(images)), -1))
    labels.append(np.asarray(y))
    predicted.append(p)
    for i in np.nonzero(p != np.asarray(y))[0]:
      if len(wrong) < keep:
        wrong.append((np.asarray(images[i]), int(y[i]), int(p[i])))
  return np.concatenate(labels), np.concatenate(predicted), wrong


def misclassified(path, wrong, names, total: int) -> None:
  """A grid of misclassified images, 'true->predicted' under each (Fig. 8's layout)."""
  plt = _plt()
  n = max(len(wrong), 1)
  cols = min(10, n)
  rows = -(-n // cols)
  fig, axes = plt.subplots(rows, cols, figsize=(1.2 * cols, 1.4 * rows + 0.4), squeeze=False)
  for ax in axes.flat:
    ax.axis("off")
  for ax, (image, label, guess) in zip(axes.flat, wrong):
    _show(ax, image)
    ax.axis("on")
    ax.set_xlabel(f"{names[label]}->{names[guess]}", fontsize=7)
  fig.suptitle(f"{len(wrong)} misclassified test images shown (true->predicted) of {total} "
               "wrong", fontsize=9)
  _save(fig, path)


def confusion(path, labels, predicted, names) -> np.ndarray:
  """The confusion matrix: rows the true class, columns the predicted; colour is the
  row-normalised fraction, numbers the counts (for up to 20 classes)."""
  plt = _plt()
  k = len(names)
  counts = np.zeros((k, k), int)
  np.add.at(counts, (labels, predicted), 1)
  fractions = counts / np.maximum(counts.sum(1, keepdims=True), 1)
  size = max(4.0, 0.45 * k) if k <= 20 else 8.0
  fig, ax = plt.subplots(figsize=(size + 1, size))
  im = ax.imshow(fractions, cmap="Blues", vmin=0, vmax=1)
  if k <= 20:
    ax.set_xticks(range(k), [names[i] for i in range(k)], rotation=90, fontsize=7)
    ax.set_yticks(range(k), [names[i] for i in range(k)], fontsize=7)
    for i in range(k):
      for j in range(k):
        if counts[i, j]:
          ax.text(j, i, str(counts[i, j]), ha="center", va="center", fontsize=6,
                  color="white" if fractions[i, j] > 0.5 else "black")
  ax.set_xlabel("predicted"), ax.set_ylabel("true")
  accuracy = np.trace(counts) / max(counts.sum(), 1)
  ax.set_title(f"confusion on {counts.sum()} test images, accuracy {100 * accuracy:.2f}%",
               fontsize=9)
  fig.colorbar(im, ax=ax, fraction=0.046, label="fraction of the true class")
  _save(fig, path)
  return counts


def activations(path, image, outputs, title="") -> list:
  """The input, then each stage's output: maps as a row of channels (up to 24), vectors
  (C5 on a 1x1 map, F6, OUTPUT, fc6..fc8) as one strip each, named in a left margin so
  that no two names share a place. Returns each name's box on the figure, in pixels
  (x0, y0, x1, y1)."""
  plt = _plt()
  rows = [("input", np.asarray(image))] + [(n, np.asarray(o)[0]) for n, o in outputs]
  cols = 24
  fig, axes = plt.subplots(len(rows), cols, figsize=(cols * 0.55 + 1.2, len(rows) * 0.8),
                           squeeze=False, gridspec_kw={"hspace": 0.5})
  fig.subplots_adjust(left=1.2 / (cols * 0.55 + 1.2), right=0.99)
  for ax in axes.flat:
    ax.axis("off")
  names = []
  for r, (name, out) in enumerate(rows):
    maps = out.ndim == 3 and out.shape[0] > 1
    if name == "input":
      _show(axes[r, 0], out)
      axes[r, 0].axis("on")
      shown = "input"
    elif maps:
      for c in range(min(cols, out.shape[-1])):
        _show(axes[r, c], out[..., c], cmap="viridis")
        axes[r, c].axis("on")
      shown = f"{name} ({out.shape[-1]} maps)"
    else:  # a vector: one strip across the row, where the row's map axes would be
      strip = out.reshape(1, -1)
      first, last = axes[r, 0].get_position(), axes[r, -1].get_position()
      ax = fig.add_axes([first.x0, first.y0 + first.height * 0.3, last.x1 - first.x0,
                         first.height * 0.4])
      ax.imshow(strip, aspect="auto", cmap="viridis")
      ax.set_xticks([]), ax.set_yticks([])
      shown = f"{name} ({strip.shape[1]})"
    box = axes[r, 0].get_position()
    names.append(fig.text(box.x0 - 0.005, box.y0 + box.height / 2, shown, fontsize=7,
                          ha="right", va="center"))
  fig.suptitle(title, fontsize=9)
  renderer = fig.canvas.get_renderer()
  boxes = [tuple(t.get_window_extent(renderer).extents) for t in names]
  _save(fig, path)
  return boxes


def filters(path, kernel) -> None:
  """The first layer's kernels: HWIO [kh, kw, in, out], or with a leading tower axis,
  each tower's block apart (Fig. 3). 3 input channels are drawn in colour. A model with
  no convolution (`kernel` None) gets a page that says so."""
  plt = _plt()
  if kernel is None:
    fig = plt.figure(figsize=(4, 1))
    fig.text(0.5, 0.5, "the model has no convolution kernel", ha="center", va="center")
    _save(fig, path)
    return
  kernel = np.asarray(kernel, np.float32)
  towers = [kernel] if kernel.ndim == 4 else list(kernel)
  per = towers[0].shape[-1]
  cols = min(per, 16)
  rows = -(-per // cols)
  fig, axes = plt.subplots(rows * len(towers), cols, figsize=(cols * 0.8, rows * len(towers) * 0.85
                                                               + 0.5), squeeze=False)
  for ax in axes.flat:
    ax.axis("off")
  for t, block in enumerate(towers):
    for i in range(per):
      k = block[..., i]  # [kh, kw, in]
      k = (k - k.min()) / max(k.max() - k.min(), 1e-12)  # each kernel on its own scale
      ax = axes[t * rows + i // cols, i % cols]
      _show(ax, k if k.shape[-1] == 3 else k[..., 0])
      ax.axis("on")
    if len(towers) > 1:
      axes[t * rows, 0].set_title(f"tower {t + 1} (GPU {t + 1}): {per} kernels", fontsize=8,
                                  loc="left")
  fig.suptitle(f"first layer: {per * len(towers)} kernels of "
               f"{towers[0].shape[0]}x{towers[0].shape[1]}x{towers[0].shape[2]}", fontsize=9)
  _save(fig, path)


def first_kernel(params):
  """The kernel of the first stage: the first parameter leaf of rank 4 or more (None for a
  model without one)."""
  for _, leaf in jax.tree_util.tree_flatten_with_path(params)[0]:
    if np.ndim(leaf) >= 4:
      return np.asarray(leaf)
  return None


def _save(fig, path):
  files.save_figure(fig, path, dpi=110, bbox_inches="tight")


def write_all(config, workdir: str, out: str, image_path: str | None = None,
              keep: int = 100) -> dict:
  """The four figures of the run in `workdir` into `out`; returns what they show."""
  files.writable_dir(out, "--out")
  step, state, task = load.load_state(config, workdir)
  variables, resolved = task.variables(state), task.resolved
  names = predict.class_names(config, resolved)
  first = []  # the first test image, for activations.png: the split is read once

  def remembered(batches):
    for images, y in batches:
      if not first:
        first.append(np.asarray(images[:1]))
      yield images, y

  with preemption.StopSignals() as stop:
    labels, predicted, wrong = predict_split(
        task, variables, remembered(test_batches(config, resolved)), keep, stop)
  errors = int(np.sum(labels != predicted))
  misclassified(os.path.join(out, "misclassified.png"), wrong, names, errors)
  counts = confusion(os.path.join(out, "confusion.png"), labels, predicted, names)
  if image_path:
    image = predict.load_images([image_path], config, resolved)
    title = os.path.basename(image_path)
  else:
    image = first[0]
    title = "the first test image"
  outputs = [(name, predict.activations(task, variables, image, name))
             for name in predict.stage_names(task, variables)]
  activations(os.path.join(out, "activations.png"), image[0], outputs,
              f"{title} through the network (checkpoint at step {step})")
  filters(os.path.join(out, "filters.png"), first_kernel(variables["params"]))
  return {"errors": errors, "total": len(labels), "counts": counts,
          "stages": [n for n, _ in outputs]}

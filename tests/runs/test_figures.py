"""figures: the four PNGs from a tiny trained run, and AlexNet's kernels by tower."""

import numpy as np
from PIL import Image

from conftest import tiny_config
from lenet_jax import drawings
from lenet_jax.training import train


def _png(path):
  with Image.open(path) as image:
    return np.asarray(image.convert("L"), np.float32)


def test_the_four_figures_of_a_trained_run(tmp_path):
  config = tiny_config(num_epochs=1)
  train.train_and_evaluate(config, str(tmp_path / "run"))
  shown = drawings.write_all(config, str(tmp_path / "run"), str(tmp_path / "figs"), keep=30)
  assert shown["total"] == 1000 and shown["counts"].sum() == 1000
  assert shown["errors"] == shown["total"] - np.trace(shown["counts"]) > 0
  assert shown["stages"] == ["C1", "S2", "C3", "S4", "C5", "F6", "OUTPUT"]
  for name in drawings.FILES:
    image = _png(tmp_path / "figs" / name)
    assert min(image.shape) > 100 and image.std() > 10, name  # drawn, not blank
  # The misclassified grid holds 30 images: 3 rows of 10 (taller than one row).
  assert _png(tmp_path / "figs/misclassified.png").shape[0] > 250


def test_confusion_counts_rows_true_columns_predicted(tmp_path):
  labels, predicted = np.array([0, 0, 1, 2, 2, 2]), np.array([0, 1, 1, 2, 0, 2])
  counts = drawings.confusion(str(tmp_path / "c.png"), labels, predicted, ["a", "b", "c"])
  np.testing.assert_array_equal(counts, [[1, 1, 0], [0, 1, 0], [1, 0, 2]])


def test_alexnet_kernels_drawn_by_tower(tmp_path):
  rng = np.random.default_rng(0)
  drawings.filters(str(tmp_path / "one.png"), rng.normal(size=(11, 11, 3, 96)))
  drawings.filters(str(tmp_path / "two.png"), rng.normal(size=(2, 11, 11, 3, 48)))
  one, two = (np.asarray(Image.open(tmp_path / f"{n}.png").convert("RGB"), np.float32)
              for n in ("one", "two"))
  assert two.shape[0] > 0.9 * one.shape[0] and one.std() > 10 and two.std() > 10
  spread = np.abs(two[..., 0] - two[..., 1]).mean()
  assert spread > 1  # in colour, not grey

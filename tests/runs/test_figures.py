"""figures: the four PNGs from a tiny trained run, and AlexNet's kernels by tower."""

import numpy as np
from PIL import Image

from conftest import tiny_config
from lenet_jax.runs import figures


def _png(path):
  with Image.open(path) as image:
    return np.asarray(image.convert("L"), np.float32)


def test_the_four_figures_of_a_trained_run(tmp_path, trained_run):
  shown = figures.write_all(tiny_config(), trained_run, str(tmp_path / "figs"), keep=30)
  assert shown["total"] == 1000 and shown["counts"].sum() == 1000
  assert shown["errors"] == shown["total"] - np.trace(shown["counts"]) > 0
  assert shown["stages"] == ["C1", "S2", "C3", "S4", "C5", "F6", "OUTPUT"]
  for name in figures.FILES:
    image = _png(tmp_path / "figs" / name)
    assert min(image.shape) > 100 and image.std() > 10, name  # drawn, not blank
  # The misclassified grid holds 30 images: 3 rows of 10 (taller than one row).
  assert _png(tmp_path / "figs/misclassified.png").shape[0] > 250


def test_confusion_counts_rows_true_columns_predicted(tmp_path):
  labels, predicted = np.array([0, 0, 1, 2, 2, 2]), np.array([0, 1, 1, 2, 0, 2])
  counts = figures.confusion(str(tmp_path / "c.png"), labels, predicted, ["a", "b", "c"])
  np.testing.assert_array_equal(counts, [[1, 1, 0], [0, 1, 0], [1, 0, 2]])


def test_alexnet_kernels_drawn_by_tower(tmp_path):
  rng = np.random.default_rng(0)
  figures.filters(str(tmp_path / "one.png"), rng.normal(size=(11, 11, 3, 96)))
  figures.filters(str(tmp_path / "two.png"), rng.normal(size=(2, 11, 11, 3, 48)))
  one, two = (np.asarray(Image.open(tmp_path / f"{n}.png").convert("RGB"), np.float32)
              for n in ("one", "two"))
  assert two.shape[0] > 0.9 * one.shape[0] and one.std() > 10 and two.std() > 10
  spread = np.abs(two[..., 0] - two[..., 1]).mean()
  assert spread > 1  # in colour, not grey


def test_the_stage_names_of_activations_png_do_not_overlap(tmp_path):
  rng = np.random.default_rng(0)
  outputs = [("C1", rng.random((1, 28, 28, 6))), ("S2", rng.random((1, 14, 14, 6))),
             ("C3", rng.random((1, 10, 10, 16))), ("S4", rng.random((1, 5, 5, 16))),
             ("C5", rng.random((1, 1, 1, 120))), ("F6", rng.random((1, 84))),
             ("OUTPUT", rng.random((1, 10)))]
  boxes = figures.activations(str(tmp_path / "a.png"), rng.random((32, 32, 1)), outputs, "x")
  assert len(boxes) == 8
  for i, a in enumerate(boxes):
    for b in boxes[i + 1:]:
      apart = a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1]
      assert apart, (a, b)

"""LeNet-1's input: each digit's ink box fitted into a centred 16x16 square."""

import numpy as np
import pytest

from conftest import tiny_config
from lenet_jax import data
from lenet_jax.runs import validation


def load(config, splits=("train", "test")):
  """`config`'s data, validated as a run validates it first."""
  return data.load(config.data, validation.validate(config), splits)
from lenet_jax.data import digit_box
from lenet_jax.common.errors import ConfigError


def _box(image):
  rows, cols = np.flatnonzero(image.any(1)), np.flatnonzero(image.any(0))
  return rows[0], rows[-1], cols[0], cols[-1]


def test_ink_box_is_fitted_into_the_centred_square_keeping_its_shape():
  images = np.zeros((2, 28, 28, 1), np.uint8)
  images[0, 2:22, 10:20] = 255  # 20 tall, 10 wide, high on the canvas
  images[1, 5:9, 3:23] = 200  # 4 tall, 20 wide
  out = digit_box.fit(images, 16)
  assert out.shape == images.shape and out.dtype == np.uint8
  top, bottom, left, right = _box(out[0, ..., 0])
  assert (top, bottom) == (6, 21)  # 16 rows, centred in 28
  assert right - left + 1 == 8 and (left + right) / 2 == pytest.approx(13.5)  # 10 * 16/20
  top, bottom, left, right = _box(out[1, ..., 0])
  assert (left, right) == (6, 21)
  assert (top + bottom) / 2 == pytest.approx(13.5, abs=0.5)
  assert bottom - top + 1 in (3, 4)  # 4 * 16/20 = 3.2, the area filter's edge rows


def test_blank_images_stay_blank_and_bad_sizes_are_refused():
  np.testing.assert_array_equal(digit_box.fit(np.zeros((1, 28, 28, 1), np.uint8), 16), 0)
  with pytest.raises(ValueError, match="does not fit"):
    digit_box.fit(np.zeros((1, 28, 28, 1), np.uint8), 30)


def test_loading_with_digit_size_fits_every_split():
  plain = load(tiny_config())
  fitted = load(tiny_config(**{"data.digit_size": 16}))
  for split in ("train", "test"):
    images = fitted.split(split)[0]
    assert not images[:, :6].any() and not images[:, 22:].any()
    assert not images[:, :, :6].any() and not images[:, :, 22:].any()
    assert fitted.split(split)[0].shape == plain.split(split)[0].shape
  with pytest.raises(ConfigError, match="digit_size"):
    data.validate(tiny_config(**{"data.digit_size": 40}).data)

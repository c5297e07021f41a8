"""Digits down-sampled into a smaller box, centred on the same canvas: LeNet-1's input.

LeCun et al. 1998, section III.C.6: for LeNet-1 "the input images were
down-sampled to 16x16 pixels and centered in the 28x28 input layer". Here each
digit's ink box (the rows and columns with any non-zero pixel) is made square
about its centre, resampled to `size` x `size` with an area filter (each output
pixel the mean of the input area it covers), and pasted at the centre of a
blank canvas of the original size. Done once, on the host, when a resident
split is loaded (`config.data.digit_size`).
"""

import numpy as np
from PIL import Image


def fit(images: np.ndarray, size: int) -> np.ndarray:
  """uint8 [N, H, W, 1] digits on a 0 background -> the same shape, each digit's ink
  box fitted into a centred `size` x `size` square. Blank images stay blank."""
  n, height, width, channels = images.shape
  if channels != 1:
    raise ValueError("digit boxes are for single-channel digits")
  if size > min(height, width):
    raise ValueError(f"a {size}x{size} box does not fit in {height}x{width} images")
  out = np.zeros_like(images)
  top, left = (height - size) // 2, (width - size) // 2
  for i, image in enumerate(images[..., 0]):
    rows = np.flatnonzero(image.any(axis=1))
    cols = np.flatnonzero(image.any(axis=0))
    if rows.size == 0:
      continue
    side = max(rows[-1] - rows[0], cols[-1] - cols[0]) + 1
    # The square of that side about the box's centre, on a canvas padded so it fits.
    r0 = (rows[0] + rows[-1] + 1 - side) // 2
    c0 = (cols[0] + cols[-1] + 1 - side) // 2
    padded = np.pad(image, side)
    square = padded[r0 + side:r0 + 2 * side, c0 + side:c0 + 2 * side]
    small = Image.fromarray(square).resize((size, size), Image.Resampling.BOX)
    out[i, top:top + size, left:left + size, 0] = np.asarray(small)
  return out

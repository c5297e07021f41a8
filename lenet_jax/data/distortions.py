"""Random planar affine distortions on the device (LeCun et al. 1998, section III.C).

Two protocols (`config.distortions.protocol`):
- 'online' (ours): every training image gets a new random transform at every step;
- 'fixed' (the paper's): the training set is the originals plus `copies` distorted
  copies of each, drawn once (per run, from its seed) before training: the paper
  trained on 60,000 originals and 540,000 distorted copies (9 each).
The ranges (`translate`, `scale`, `squeeze`, `shear`) are this project's choice:
the paper names the transformations but gives no ranges.

The paper's 0.8% run trained on distorted copies of the digits: "random
combinations of the following planar affine transformations: horizontal and
vertical translations, scaling, squeezing (simultaneous horizontal compression
and vertical elongation, or the reverse), and horizontal shearing". Each image
gets its own transform, drawn uniformly within the configured ranges, applied
by bilinear resampling about the image centre.

Elastic distortions (Simard, Steinkraus and Platt 2003, "Best practices for
convolutional neural networks applied to visual document analysis", section 2):
not in the 1998 paper; an option (`elastic_alpha` > 0). Each pixel's read
position moves by a random field: uniform in (-1, 1) per pixel and direction,
smoothed by a Gaussian of standard deviation `elastic_sigma` pixels, scaled by
`elastic_alpha` (Simard et al. used sigma = 4 with alpha = 34 on 29x29 digits).
It is added to the affine transform's displacement, and the image is
resampled once.
"""

import jax
import jax.numpy as jnp
import numpy as np

PROTOCOLS = ("online", "fixed")
AFFINE = ("translate", "scale", "squeeze", "shear")
ELASTIC = ("elastic_alpha", "elastic_sigma")


def ranges_of(distortion_config) -> dict:
  """The keyword arguments of `distort` a `config.distortions` section sets."""
  return {k: float(distortion_config[k]) for k in AFFINE + ELASTIC}


def affine_matrix(s, q, h):
  """[..., 2, 2] (row, col) matrices: output pixel (r, c) reads input A @ [r, c] (about
  the centre). s zooms (s < 1 magnifies), q squeezes (rows read at q times their
  distance, columns at 1/q), h shears (column read shifted by h times the row)."""
  zero = jnp.zeros_like(s)
  return jnp.stack([jnp.stack([s * q, zero], -1), jnp.stack([s * h, s / q], -1)], -2)


def random_affine(key, n, translate: float, scale: float, squeeze: float, shear: float):
  """n 2x2 matrices [n, 2, 2] (row, col) and translations [n, 2], uniformly drawn."""
  k = jax.random.split(key, 5)
  u = lambda key, r, shape=(n,): jax.random.uniform(key, shape, minval=-r, maxval=r)
  a = affine_matrix(1.0 + u(k[0], scale), 1.0 + u(k[1], squeeze), u(k[2], shear))
  t = u(k[3], translate, (n, 2))
  return a, t


def gaussian_kernel(sigma: float) -> jnp.ndarray:
  """A normalised 1-D Gaussian, truncated at 3 sigma (at least 1 tap each side)."""
  radius = max(1, int(np.ceil(3 * sigma)))
  x = np.arange(-radius, radius + 1, dtype=np.float32)
  k = np.exp(-0.5 * (x / sigma) ** 2)
  return jnp.asarray(k / k.sum())


def elastic_field(key, n: int, height: int, width: int, alpha: float, sigma: float):
  """[n, 2, H*W] (row, col) displacements: uniform(-1, 1) noise per pixel, smoothed by
  a Gaussian of `sigma` pixels (zero beyond the edges), times `alpha`."""
  noise = jax.random.uniform(key, (n * 2, height, width, 1), minval=-1.0, maxval=1.0)
  k = gaussian_kernel(sigma)
  smooth = lambda x, kernel: jax.lax.conv_general_dilated(  # noqa: E731
      x, kernel, (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC"))
  field = smooth(smooth(noise, k.reshape(-1, 1, 1, 1)), k.reshape(1, -1, 1, 1))
  return alpha * field.reshape(n, 2, height * width)


def apply(images, matrices, translations, displacements=None):
  """Resamples float images [n, H, W, C]; pixels from outside read as 0 (background).
  `displacements` [n, 2, H*W] are added to each output pixel's read position."""
  n, height, width, channels = images.shape
  centre = jnp.array([(height - 1) / 2, (width - 1) / 2])
  rows, cols = jnp.meshgrid(jnp.arange(height, dtype=images.dtype),
                            jnp.arange(width, dtype=images.dtype), indexing="ij")
  grid = jnp.stack([rows.ravel(), cols.ravel()]) - centre[:, None]  # [2, H*W]
  if displacements is None:
    displacements = jnp.zeros((n, 2, 1), images.dtype)

  def one(image, a, t, d):
    coords = a @ grid + (centre + t)[:, None] + d
    sample = lambda ch: jax.scipy.ndimage.map_coordinates(ch, list(coords), order=1, cval=0.0)
    return jax.vmap(sample, in_axes=-1, out_axes=-1)(image).reshape(height, width, channels)

  return jax.vmap(one)(images, matrices, translations, displacements)


def distort(key, images, translate=0.0, scale=0.0, squeeze=0.0, shear=0.0, elastic_alpha=0.0,
            elastic_sigma=4.0):
  """Applies one random affine transform per image, plus an elastic field when
  `elastic_alpha` > 0; the identity when all ranges are 0."""
  n, height, width, _ = images.shape
  # The affine draws use `key` itself, as before the elastic option existed.
  matrices, translations = random_affine(key, n, translate, scale, squeeze, shear)
  field = None
  if elastic_alpha:
    field = elastic_field(jax.random.fold_in(key, 1), n, height, width, elastic_alpha,
                          elastic_sigma)
  return apply(images, matrices, translations, field)


def distort_uint8(key, images, **ranges):
  """`distort` for uint8 images [N, H, W, C]: resampled in [0, 1], rounded back to uint8."""
  x = distort(key, jnp.asarray(images).astype(jnp.float32) / 255.0, **ranges)
  return jnp.round(255.0 * jnp.clip(x, 0.0, 1.0)).astype(jnp.uint8)


def fixed_copies(key, images, labels, copies: int, ranges: dict):
  """The paper's protocol: uint8 `images` [N, H, W, C] (already padded to the model's
  size, `preprocess.pad`), followed by `copies` distorted copies of each, made once;
  labels repeated alike."""
  images = jnp.asarray(images)
  made = jax.lax.map(lambda k: distort_uint8(k, images, **ranges),
                     jax.random.split(key, copies))  # [copies, N, ...]
  out = jnp.concatenate([images[None], made]).reshape((-1,) + images.shape[1:])
  return out, jnp.tile(jnp.asarray(labels), copies + 1)

"""On-device input preparation: uint8 images -> padded, normalised float inputs."""

import jax
import jax.numpy as jnp

from lenet_jax.data import distortions, streaming

# LeCun et al. 1998, section II.A: "the values of the input pixels are normalized
# so that the background level (white) corresponds to a value of -0.1 and the
# foreground (black) corresponds to 1.175", making the mean roughly 0 and the
# variance roughly 1.
PAPER_BACKGROUND, PAPER_FOREGROUND = -0.1, 1.175


def pad(images, min_size: int):
  """uint8 images [N, H, W, C] padded with background (0) about their centre to at
  least `min_size` x `min_size` (28x28 digits -> 32x32)."""
  h, w = images.shape[1:3]
  ph, pw = max(0, min_size - h), max(0, min_size - w)
  if not (ph or pw):
    return images
  return jnp.pad(images, ((0, 0), (ph // 2, ph - ph // 2), (pw // 2, pw - pw // 2), (0, 0)))


def model_input_shape(spec, pad_to: int, resize: tuple | None = None):
  """The shape the model sees: a streamed set's crop, `resize` = (side, channels) (AlexNet's
  227x227x3), or the images padded to at least `pad_to` (LeNet-5's 32x32)."""
  h, w, c = spec.image_shape
  if spec.streamed:  # cropped to size on the host or the device
    return spec.image_shape
  if resize is not None:
    return (resize[0], resize[0], resize[1])
  return (max(h, pad_to), max(w, pad_to), c)


def prepare(images, spec, normalization: str, min_size: int, dtype=jnp.float32,
            distortion_key=None, distortion_ranges=None, resize=None, lighting_key=None,
            channel_order: str = "rgb", pixel_mean=None):
  """Pads images to at least `min_size` (28x28 digits -> 32x32), or resizes them to
  `resize` = (size, channels), and normalises them.

  Padding is done on the raw pixels, so padded pixels are background. With a
  `distortion_key`, each image is first given a random affine distortion within
  `distortion_ranges` (see `lenet_jax.data.distortions`); with a `lighting_key`,
  the paper's PCA colour augmentation (`lenet_jax.data.streaming.pca_lighting`).
  `channel_order='bgr'` reverses RGB images' channels (Caffe's order); `pixel_mean`
  (0-255, in the model's channel order) replaces the dataset's mean.
  """
  if resize is not None:  # (size, channels): bilinear resize, grey repeated to RGB
    size, channels = resize
    x = jax.image.resize(images.astype(dtype) / 255.0,
                         (images.shape[0], size, size, images.shape[-1]), "bilinear")
    if channels != x.shape[-1]:
      x = jnp.repeat(x, channels // x.shape[-1], axis=-1)
  else:
    x = pad(images, min_size).astype(dtype) / 255.0
  if distortion_key is not None:
    x = distortions.distort(distortion_key, x, **distortion_ranges)
  if lighting_key is not None:
    x = streaming.pca_lighting(lighting_key, x)
  if channel_order == "bgr":
    x = x[..., ::-1]
  if normalization == "paper":
    return PAPER_BACKGROUND + (PAPER_FOREGROUND - PAPER_BACKGROUND) * x
  repeat = x.shape[-1] // len(spec.mean)  # grey statistics for repeated channels
  stats_mean = spec.mean * repeat
  if channel_order == "bgr":
    stats_mean = stats_mean[::-1]
  if pixel_mean:
    stats_mean = tuple(v / 255.0 for v in pixel_mean)
  mean = jnp.asarray(stats_mean, dtype).reshape(1, 1, 1, -1)
  if normalization == "subtract_mean":  # AlexNet section 2: raw 0-255 values less the mean
    return (x - mean) * 255.0
  std = spec.std * repeat
  std = jnp.asarray(std[::-1] if channel_order == "bgr" else std, dtype).reshape(1, 1, 1, -1)
  return (x - mean) / std

"""The paper's patches of a fixed-size image, on the device (Krizhevsky et al. 2012,
section 4.1): training takes a random 224x224 (here `size`, 227) patch and, half the
time, its horizontal reflection; testing takes "five 224 x 224 patches (the four
corner patches and the center patch) as well as their horizontal reflections (hence
ten patches in all)" and averages the network's softmax predictions over them."""

import jax
import jax.numpy as jnp

from lenet_jax.data.streaming import center_crop


def random_crop_flip(key, images, size: int):
  """A random size x size patch of each image [N, H, W, C], mirrored with probability 1/2."""
  n, h, w, _ = images.shape
  k_top, k_left, k_flip = jax.random.split(key, 3)
  tops = jax.random.randint(k_top, (n,), 0, h - size + 1)
  lefts = jax.random.randint(k_left, (n,), 0, w - size + 1)
  flips = jax.random.bernoulli(k_flip, 0.5, (n,))

  def patch(image, top, left, flip):
    out = jax.lax.dynamic_slice(image, (top, left, 0), (size, size, image.shape[-1]))
    return jnp.where(flip, out[:, ::-1], out)

  return jax.vmap(patch)(images, tops, lefts, flips)


def ten_crops(images, size: int):
  """[10, N, size, size, C]: the four corners and the centre, then their reflections."""
  h, w = images.shape[1:3]
  corners = [images[:, :size, :size], images[:, :size, w - size:],
             images[:, h - size:, :size], images[:, h - size:, w - size:],
             center_crop(images, size)]
  return jnp.stack(corners + [p[:, :, ::-1] for p in corners])

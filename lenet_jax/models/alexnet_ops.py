"""Other ways of computing AlexNet's operations, with the same values and gradients
(how, never what), chosen by `config.model.*` knobs for speed on accelerators:

- `space_to_depth_conv`: a stride-s convolution (conv1: 11x11, stride 4) as a
  stride-1 convolution over s x s blocks of the input folded into channels, with
  the kernel zero-padded to a multiple of s and folded the same way;
- `max_pool`: overlapping max pooling whose gradient goes to each window's first
  maximum (select-and-scatter's choice), written as strided slices and pads
  instead of XLA's select-and-scatter.
"""

import functools

import jax
import jax.numpy as jnp
from jax import lax

from lenet_jax.models.matmul_ops import first_maximum


def space_to_depth_conv(x, kernel, stride: int, dtype=None):
  """VALID convolution of NHWC `x` with HWIO `kernel` at `stride`, as a stride-1
  convolution on `stride` x `stride` blocks (values equal up to summation order)."""
  n, h, w, c = x.shape
  k, o = kernel.shape[0], kernel.shape[-1]
  b = stride
  kb = -(-k // b)  # kernel blocks per side
  oh, ow = (h - k) // b + 1, (w - k) // b + 1
  hb, wb = oh + kb - 1, ow + kb - 1  # input blocks the outputs read
  x = x[:, :hb * b, :wb * b]
  x = jnp.pad(x, ((0, 0), (0, hb * b - x.shape[1]), (0, wb * b - x.shape[2]), (0, 0)))
  x = x.reshape(n, hb, b, wb, b, c).transpose(0, 1, 3, 2, 4, 5).reshape(n, hb, wb, b * b * c)
  kernel = jnp.pad(kernel, ((0, kb * b - k), (0, kb * b - k), (0, 0), (0, 0)))
  kernel = kernel.reshape(kb, b, kb, b, c, o).transpose(0, 2, 1, 3, 4, 5)
  kernel = kernel.reshape(kb, kb, b * b * c, o)
  return lax.conv_general_dilated(x, kernel.astype(dtype or x.dtype), (1, 1), "VALID",
                                  dimension_numbers=("NHWC", "HWIO", "NHWC"))


def _window_slices(x, window, stride, out_h, out_w):
  """Each window member's strided slice of `x`, in row-major order within the window."""
  n, _, _, c = x.shape
  return [lax.slice(x, (0, i, j, 0), (n, i + stride * (out_h - 1) + 1,
                                      j + stride * (out_w - 1) + 1, c), (1, stride, stride, 1))
          for i in range(window) for j in range(window)]


@functools.partial(jax.custom_vjp, nondiff_argnums=(1, 2))
def max_pool(x, window: int = 3, stride: int = 2):
  """VALID max pooling of NHWC `x` over `window` x `window` at `stride`."""
  return lax.reduce_window(x, -jnp.inf, lax.max, (1, window, window, 1), (1, stride, stride, 1),
                           "VALID")


def _max_pool_fwd(x, window, stride):
  y = max_pool(x, window, stride)
  return y, (x, y)


def _max_pool_bwd(window, stride, residuals, g):
  x, y = residuals
  _, h, w, _ = x.shape
  out_h, out_w = y.shape[1:3]
  routed = first_maximum(_window_slices(x, window, stride, out_h, out_w), y, g)
  dx = jnp.zeros_like(x)
  zero = jnp.zeros((), x.dtype)
  for (i, j), part in zip([(i, j) for i in range(window) for j in range(window)], routed):
    span_h, span_w = stride * (out_h - 1) + 1, stride * (out_w - 1) + 1
    dx = dx + lax.pad(part, zero, ((0, 0, 0), (i, h - i - span_h, stride - 1),
                                   (j, w - j - span_w, stride - 1), (0, 0, 0)))
  return (dx,)


max_pool.defvjp(_max_pool_fwd, _max_pool_bwd)

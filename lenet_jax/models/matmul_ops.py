"""LeNet-5's convolutions and 2x2 pooling written as matrix products and slices.

XLA's CPU convolutions are slow for LeNet-5's shapes (one or six input
channels, 5x5 kernels), above all in the backward pass, and so is the
select-and-scatter behind `reduce_window` max pooling. On a CPU these
formulations compute the same functions, and the same gradients, with the
matrix-product and elementwise kernels XLA runs well (measured in
experiments/benchmarks):

- `conv2d`: each output row is cut into blocks of `block` columns; a block
  reads a (k, block + k - 1, C) window of the input, and one matrix product
  with a banded matrix built from the kernel maps every window to its block of
  outputs. `block=1` is im2col; `block=out_width` multiplies whole rows by a
  Toeplitz matrix. The band's zeros cost (block + k - 1) / k times the
  convolution's multiply-adds, so the default keeps `block <= k`.
- `max_pool`: the maximum of each 2x2 window, whose gradient goes to the
  window's first maximum in row-major order, as `lax.reduce_window`'s
  select-and-scatter gives it.
- `conv_max_pool`: a convolution and the 2x2 max pooling after it as one
  product: each product row covers two output rows, and the banded matrix's
  columns are ordered so that the four members of every pooling window are four
  contiguous column slabs of the same row.
- `avg_pool`: the mean of each 2x2 window.
"""

import jax
import jax.numpy as jnp


def default_block(out_width: int, kernel_size: int) -> int:
  """The largest divisor of `out_width` that is at most `kernel_size`."""
  return max(b for b in range(1, min(out_width, kernel_size) + 1) if out_width % b == 0)


def banded_matrix(kernel, block: int):
  """kernel (k, k, C, O) -> (k * span * C, block * O), span = block + k - 1.

  Row (i, a, c), column (b, o) holds kernel[i, a - b, c, o] where 0 <= a - b < k,
  zero elsewhere: column block b is the kernel shifted right by b columns.
  """
  k, _, c, o = kernel.shape
  span = block + k - 1
  shifted = [jnp.pad(kernel, ((0, 0), (b, span - k - b), (0, 0), (0, 0))) for b in range(block)]
  return jnp.stack(shifted, axis=3).reshape(k * span * c, block * o)


def _block_windows(x, block: int, span: int):
  """(n, h, blocks, span * C): for each block of `block` output columns, the
  `span` input columns it reads, every input row."""
  n, h, w, c = x.shape
  blocks = (w - span) // block + 1
  if blocks == 1:
    return x[:, :, :span].reshape(n, h, 1, span * c)
  windows = jnp.stack([x[:, :, b * block:b * block + span] for b in range(blocks)], axis=2)
  return windows.reshape(n, h, blocks, span * c)


def _with_bias(rows, matrix, bias, repeats: int):
  """Appends a column of ones to the patches and `bias` (tiled `repeats` times) as
  the matrix's last row, so the product adds the bias and its gradient comes from
  the same matmul as the kernel's instead of a separate reduction."""
  ones = jnp.ones(rows[0].shape[:-1] + (1,), rows[0].dtype)
  bias_row = jnp.tile(bias.astype(matrix.dtype), repeats)[None]
  return rows + [ones], jnp.concatenate([matrix, bias_row])


def conv2d(x, kernel, bias=None, block: int | None = None):
  """VALID, stride-1 convolution of NHWC `x` with an HWIO `kernel` (+ `bias`), as one matmul."""
  n, h, w, c = x.shape
  k = kernel.shape[0]
  out_h, out_w, o = h - k + 1, w - k + 1, kernel.shape[-1]
  block = block or default_block(out_w, k)
  if out_w % block:
    raise ValueError(f"block {block} does not divide the output width {out_w}")
  blocks, span = out_w // block, block + k - 1
  windows = _block_windows(x, block, span)
  # (n, out_h, blocks, k * span * c): the k input rows under each output row.
  rows = [windows[:, i:i + out_h] for i in range(k)]
  matrix = banded_matrix(kernel.astype(x.dtype), block)
  if bias is not None:
    rows, matrix = _with_bias(rows, matrix, bias, block)
  patches = jnp.concatenate(rows, axis=-1)
  y = patches.reshape(n * out_h * blocks, -1) @ matrix
  return y.reshape(n, out_h, out_w, o)


def _even(x):
  """Crops odd trailing rows/columns, as VALID 2x2 pooling ignores them."""
  _, h, w, _ = x.shape
  return x[:, :h - h % 2, :w - w % 2]


def _windows(x):
  """The four members of each 2x2 window: (top-left, top-right, bottom-left, bottom-right)."""
  n, h, w, c = x.shape
  x = x.reshape(n, h // 2, 2, w // 2, 2, c)
  return tuple(x[:, :, i, :, j] for i in (0, 1) for j in (0, 1))


@jax.custom_vjp
def _max_pool(x):
  top_left, top_right, bottom_left, bottom_right = _windows(x)
  return jnp.maximum(jnp.maximum(top_left, top_right), jnp.maximum(bottom_left, bottom_right))


def _max_pool_fwd(x):
  y = _max_pool(x)
  return y, (x, y)


def first_maximum(members, y, g):
  """`g` routed to the first of `members` equal to their maximum `y`, per member."""
  routed = []
  taken = jnp.zeros(y.shape, bool)
  zero = jnp.zeros_like(g)
  for member in members[:-1]:
    hit = (member == y) & ~taken
    routed.append(jnp.where(hit, g, zero))
    taken = taken | hit
  routed.append(jnp.where(taken, zero, g))
  return routed


def _max_pool_bwd(residuals, g):
  x, y = residuals
  tl, tr, bl, br = first_maximum(_windows(x), y, g)
  top, bottom = jnp.stack([tl, tr], axis=3), jnp.stack([bl, br], axis=3)
  return (jnp.stack([top, bottom], axis=2).reshape(x.shape),)


_max_pool.defvjp(_max_pool_fwd, _max_pool_bwd)


def max_pool(x):
  """2x2, stride-2 max pooling of NHWC `x`."""
  return _max_pool(_even(x))


@jax.custom_vjp
def _max4(y):
  """y (..., 4, m) -> (..., m): the maximum over axis -2, first maximum's gradient."""
  return jnp.maximum(jnp.maximum(y[..., 0, :], y[..., 1, :]), jnp.maximum(y[..., 2, :], y[..., 3, :]))


def _max4_fwd(y):
  m = _max4(y)
  return m, (y, m)


def _max4_bwd(residuals, g):
  y, m = residuals
  return (jnp.stack(first_maximum([y[..., i, :] for i in range(4)], m, g), axis=-2),)


_max4.defvjp(_max4_fwd, _max4_bwd)


def conv_max_pool(x, kernel, bias, block: int | None = None):
  """max_pool(conv2d(x, kernel, bias)) as one matrix product and a maximum of four slabs.

  Row (n, r, block) of the product reads input rows 2r .. 2r + k of the block's
  window and computes output rows 2r and 2r + 1; its columns are ordered
  (row in pair, column parity, column pair, channel), so pooling takes the
  maximum of four contiguous slabs: top-left, top-right, bottom-left,
  bottom-right, the first maximum taking the gradient as in `max_pool`.
  `block` must be even; by default the largest even divisor of the (even)
  output width up to the kernel size.
  """
  k, o = kernel.shape[0], kernel.shape[-1]
  x = x[:, :, :x.shape[2] - (x.shape[2] - k + 1) % 2]  # VALID pooling drops an odd last column
  n, h, w, c = x.shape
  out_h, out_w = h - k + 1, w - k + 1
  block = block or max(b for b in range(2, min(out_w, k) + 1, 2) if out_w % b == 0)
  if block % 2 or out_w % block:
    raise ValueError(f"block {block} must be even and divide the output width {out_w}")
  blocks, span, pairs = out_w // block, block + k - 1, out_h // 2
  windows = _block_windows(x, block, span)
  rows = [windows[:, i:i + 2 * pairs - 1:2] for i in range(k + 1)]
  band = banded_matrix(kernel.astype(x.dtype), block).reshape(k, span * c, block, o)
  upper = jnp.pad(band, ((0, 1), (0, 0), (0, 0), (0, 0)))  # output row 2r
  lower = jnp.pad(band, ((1, 0), (0, 0), (0, 0), (0, 0)))  # output row 2r + 1
  matrix = jnp.stack([upper, lower], axis=2).reshape(k + 1, span * c, 2, block // 2, 2, o)
  matrix = matrix.transpose(0, 1, 2, 4, 3, 5).reshape((k + 1) * span * c, 2 * block * o)
  rows, matrix = _with_bias(rows, matrix, bias, 2 * block)
  patches = jnp.concatenate(rows, axis=-1).reshape(n * pairs * blocks, -1)
  y = (patches @ matrix).reshape(n * pairs * blocks, 4, block // 2 * o)
  return _max4(y).reshape(n, pairs, out_w // 2, o)


def avg_pool(x):
  """2x2, stride-2 average pooling of NHWC `x`."""
  x = _even(x)
  n, h, w, c = x.shape
  return x.reshape(n, h // 2, 2, w // 2, 2, c).mean(axis=(2, 4))

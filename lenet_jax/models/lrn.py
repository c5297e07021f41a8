"""Local response normalisation (Krizhevsky et al. 2012, section 3.3).

    b^i = a^i / (k + alpha * sum_{j=max(0, i-n/2)}^{min(N-1, i+n/2)} (a^j)^2)^beta

with k = 2, n = 5, alpha = 1e-4, beta = 0.75. In the paper's form alpha
multiplies the plain sum of squares; Caffe (and PyTorch's LocalResponseNorm)
divide alpha by n, so their alpha = 5e-4 is this alpha = 1e-4.

Caffe's bvlc_alexnet differs (its deploy.prototxt and lrn_layer.cpp): local_size 5,
alpha 1e-4 divided by the window size, beta 0.75, k left at Caffe's default 1, and
the window runs over every channel of the blob, across the two groups (`CAFFE`).
"""

import jax.numpy as jnp

# (k, alpha in the paper's form, groups: None keeps the towers apart, 1 spans them).
PAPER = {"k": 2.0, "alpha": 1e-4, "across_towers": False}
CAFFE = {"k": 1.0, "alpha": 1e-4 / 5, "across_towers": True}


def lrn(x, *, groups: int = 1, k: float = 2.0, n: int = 5, alpha: float = 1e-4,
        beta: float = 0.75, accumulate_dtype=jnp.float32):
  """LRN over the channel (last) axis of NHWC `x`; windows never cross `groups`.

  With groups=2 each tower's maps are normalised only among themselves, as each
  GPU did in the original. The squares are summed in `accumulate_dtype` (None:
  `x`'s own dtype, e.g. bfloat16, which halves the bytes the LRN moves).
  """
  *lead, channels = x.shape
  per_group = channels // groups
  squares = jnp.square(x.astype(accumulate_dtype or x.dtype)).reshape(*lead, groups, per_group)
  half = n // 2
  padded = jnp.pad(squares, [(0, 0)] * len(lead) + [(0, 0), (half, half)])
  window = sum(padded[..., i:i + per_group] for i in range(n))
  scale = (k + alpha * window.reshape(*lead, channels)) ** beta
  return (x / scale).astype(x.dtype)

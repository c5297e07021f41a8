"""Response normalisations (Krizhevsky et al. 2012, section 3.3), in the three forms
AlexNet's implementations give them (experiments/alexnet/deviations).

Cross-map ("local response normalisation"), at each pixel of NHWC maps:

    b^i = a^i / (k + alpha_sum * sum_{j=i-n/2}^{i+n/2} (a^j)^2)^beta

with the window cut at the first and last map (a zero-padded window gives the same sum)
and n = 5, beta = 0.75 in every form. They differ in k, in how alpha reaches the sum, and
in whether the window crosses from one tower's maps into the other's:

- `PAPER`, the paper's text: k = 2, alpha = 1e-4 multiplying the plain sum, within a tower;
- `CUDA_CONVNET`, the 2012 code (cuda-convnet's `cmrnorm`; layer.py divides the params
  file's scale=0.0001 by size=5, minDiv=2 is k): k = 2, alpha / n = 2e-5, within a tower;
- `CAFFE`, bvlc_alexnet (lrn_layer.cpp; k left at its default 1): k = 1, alpha / n = 2e-5,
  the window running over every map of the blob, across the two groups.
  (PyTorch's LocalResponseNorm divides alpha by n too: its alpha=1e-4, k=1 is `CAFFE`'s.)

Within-map (`rnorm`, the 2012 code's second normalisation after conv2, cuda-convnet's
`rnorm` layer): each map's squares summed over a size x size window around the pixel, cut
at the image's border:

    b = a / (1 + (scale / size^2) * sum (a')^2)^pow,   size 5, scale 1e-3, pow 0.75.
"""

import jax
import jax.numpy as jnp

# k; alpha as it multiplies the sum of squares; the window across the towers' maps.
PAPER = {"k": 2.0, "alpha": 1e-4, "across_towers": False}
CUDA_CONVNET = {"k": 2.0, "alpha": 1e-4 / 5, "across_towers": False}
CAFFE = {"k": 1.0, "alpha": 1e-4 / 5, "across_towers": True}
FORMS = {"paper": PAPER, "cuda_convnet": CUDA_CONVNET, "caffe": CAFFE}
# The 2012 code's within-map normalisation (layer-params-145.cfg: scale 0.001, pow 0.75;
# layers-145.cfg: size 5).
RNORM_2012 = {"size": 5, "scale": 1e-3, "pow": 0.75}


def lrn(x, *, groups: int = 1, k: float = 2.0, n: int = 5, alpha: float = 1e-4,
        beta: float = 0.75, accumulate_dtype=jnp.float32):
  """Cross-map LRN over the channel (last) axis of NHWC `x`; windows never cross `groups`.

  `alpha` multiplies the sum of squares as it is (a form that divides alpha by n passes
  alpha / n). With groups=2 each tower's maps are normalised only among themselves, as
  each GPU did in the original. The squares are summed in `accumulate_dtype` (None:
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


def within_map(x, *, size: int = 5, scale: float = 1e-3, power: float = 0.75,
               accumulate_dtype=jnp.float32):
  """The within-map response normalisation of NHWC `x` (each map on its own), the sum of
  squares over a `size` x `size` window cut at the border, divided by size^2 always."""
  squares = jnp.square(x.astype(accumulate_dtype or x.dtype))
  before = size // 2
  window = jax.lax.reduce_window(
      squares, 0.0, jax.lax.add, (1, size, size, 1), (1, 1, 1, 1),
      ((0, 0), (before, size - 1 - before), (before, size - 1 - before), (0, 0)))
  return (x / (1.0 + (scale / size ** 2) * window) ** power).astype(x.dtype)

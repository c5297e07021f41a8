"""The 2012 AlexNet code's two response normalisations, as plain numpy loops.

An independent reference for small test arrays: written from the 2012 source's
layer parser, its layer classes and the cuda-convnet kernels, not from lenet_jax.
Imports numpy only. Arrays are NHWC float64; `C` is the channel count of the array
passed in, which in the 2012 two-tower networks is ONE tower's maps (each cmrnorm
layer reads one GPU's conv or pool layer: yrmo/AlexNet-Source-Code
layers/layers-145.cfg:35-45 and 95-117, `channels=48` / `channels=128`), so a
caller reproducing the 2012 network calls `cmrnorm` once per tower.

Where the 2012 code says what (yrmo/AlexNet-Source-Code at
8b4ab737fb1732464afadf92a19cd3f8b84e02c1; these files are unchanged since the
Computer History Museum's initial commit 9fdd561586a4a3a42b42f73f3bdd8fdd9752ecce):

- layer.py:1182-1183: `scale` is read from the parameter file and divided by `size`
  for `cmrnorm` and by `size**2` for `rnorm` (and `cnorm`) layers. Python parses
  `dic['scale'] /= dic['size'] if ... else dic['size']**2` as
  `scale /= (size if cmrnorm else size**2)`.
- layer.py:1184: `pow` read as written. layer.py:1185-1186: `minDiv` is read only for
  `cmrnorm` (default 1.0); an `rnorm` layer's parameter section has no minDiv and the
  parser reads none. layer.py:1192-1193: `size`, and `blocked` (default False).
- src/layer.cu:1560-1566 (ResponseNormLayer keeps channels, size, scale, pow) and
  1568-1570: `rnorm` forward is `convResponseNorm(in, denoms, out, channels, size,
  scale, pow)`: no minDiv argument.
- src/layer.cu:1583-1586 (CrossMapResponseNormLayer adds blocked, minDiv) and
  1588-1590: `cmrnorm` forward is `convResponseNormCrossMap(in, denoms, out, channels,
  size, scale, pow, minDiv, blocked)`.

The kernels themselves are not in the 2012 repository: build.sh:4 and 14 (as the
museum released it, commit 9fdd561 / 2f8b81f) copy conv_util.cu from an external
library `$NVCONV2_K20X_INCLUDE/..` that was not released. The kernels below are
therefore read from Krizhevsky's public cuda-convnet of the same months
(code.google.com/p/cuda-convnet, mirrored as dnouri/cuda-convnet; its last 2012
commit 6627f678f986b9993fe61e331c731bb8aadf8896, 2012-07-25), whose layer.py:1035-1036
divides scale the same way, and from his cuda-convnet2 (akrizhevsky/cuda-convnet2 at
3238bf0367f63eb370e897b9e5714794cb67ddc2, the commit the yrmo mirror pins as its
`cuda-convnet2` submodule), whose cross-map kernel takes `minDiv` as the 2012 call does:

- cross-map (cmrnorm): cuda-convnet2 cudaconv3/src/conv_util.cu:1160-1210 (`kFCNorm`):
  lines 1190-1192 choose the window of maps, 1194-1201 sum the squares, 1206
  `prod = minDiv + addScale * prod`, 1207 `out = in * __powf(prod, -powScale)`;
  3018-3020: `convResponseNormCrossMap` passes the input as both the values and the
  "meanDiffs" that are squared. The 2012 cuda-convnet has the same kernel with the
  constant 1 in place of minDiv (src/cudaconv2/conv_util.cu:1038-1089: window
  1068-1070, sum 1072-1079, `1 + addScale * prod` at 1084, output 1086; 2892-2894).
- within-map (rnorm): 2012 cuda-convnet src/cudaconv2/conv_util.cu:2064-2066
  (`convResponseNorm` = `convContrastNorm(images, images, ...)`, the same seven
  arguments as the 2012 call) and the kernels it dispatches to (2091, 2113, 2197:
  `kCNorm2` for size >= 6, `kCNorm_fewfilter` for <= 8 maps, otherwise
  `kCNorm_manyfilter`, which the published network's 128-map, size-5 rnorm runs):
  `kCNorm_fewfilter` 746-808 (window 758-759 and 777-780, per map
  `f` at 790, `1 + addScale * prod` at 802, output 804), `kCNorm_manyfilter` 829-893
  (842-843, 862-865, 887, 889) and `kCNorm2` 924-1018 (window 947-950, 1011, 1013).
  All three sum one map's squares over a clipped square window. cuda-convnet2's
  versions (cudaconv3/src/conv_util.cu:871-932, constant `minDiv` at 926) are the same
  with minDiv in place of 1; the 2012 call passes no minDiv, so we take the 2012
  kernel's constant, 1 (`min_div=1.0`).

Windows, as the kernels index them (C's `-size/2` is `(-size)/2`, truncated toward
zero, which equals `-(size // 2)` for any positive size):

- cross-map, not blocked: map c sums maps `c - size//2 .. c - size//2 + size - 1`
  clipped to `0 .. C-1` (size 5: c-2 .. c+2; size 4: c-2 .. c+1), the map itself
  included; near the first and last maps the window is cut short, not padded (a
  zero-padded window would give the same sum). Blocked: map c sums its block
  `(c // size) * size .. min(C, that + size) - 1`.
- within-map: pixel (y, x) of map c sums map c's squares over rows
  `y - size//2 .. y - size//2 + size - 1` and the same columns, clipped to the image;
  other maps never enter. The divisor stays `size**2` at the edges, where fewer pixels
  are summed.

Hand-checked examples (`pow=1` keeps the arithmetic exact).

cmrnorm, one pixel with 7 maps x = [1, 2, 3, 4, 5, 6, 7], size=5, scale=5 (so
scale/size = 1), pow=1, min_div=2:

  map 0: maps 0..2, 1+4+9 = 14, 1 / (2+14) = 1/16 = 0.0625
  map 1: maps 0..3, 30, 2/32 = 0.0625
  map 2: maps 0..4, 55, 3/57
  map 3: maps 1..5, 90, 4/92 = 1/23
  map 4: maps 2..6, 135, 5/137
  map 5: maps 3..6, 126, 6/128 = 0.046875
  map 6: maps 4..6, 110, 7/112 = 0.0625

With the published network's values (size=5, scale=0.0001, pow=0.75, min_div=2) map 3
is 4 * (2 + 0.0001/5 * 90) ** -0.75 = 4 * 2.0018 ** -0.75. With blocked=True and
size=5, maps 0..4 share the sum 55 and maps 5..6 the sum 85.

rnorm, one map of 3x3 pixels [[1, 2, 3], [4, 5, 6], [7, 8, 9]], size=3, scale=9 (so
scale/size**2 = 1), pow=1, min_div=1:

  (1, 1): all nine pixels, 285, 5/286
  (0, 0): rows 0..1, columns 0..1, 1+4+16+25 = 46, 1/47
  (0, 1): rows 0..1, columns 0..2, 91, 2/92 = 1/46
"""

import numpy as np


def cmrnorm(x, size, scale, pow, min_div, *, blocked=False):  # noqa: A002 (the 2012 name)
  """Cross-map response normalisation (`type=cmrnorm`) of NHWC `x`.

  Takes the parameter files' values as written (e.g. size=5, scale=0.0001, pow=0.75,
  min_div=2: yrmo/AlexNet-Source-Code layers/layer-params-145.cfg:137-155 with
  size in layers/layers-145.cfg:39) and applies layer.py:1183's `scale / size`.
  out[..., c] = x[..., c] * (min_div + scale / size * sum_j x[..., j]**2) ** -pow over
  the window of maps j above (cuda-convnet2 cudaconv3/src/conv_util.cu:1190-1207;
  2012 cuda-convnet src/cudaconv2/conv_util.cu:1068-1086). `blocked` is layer.py:1193's
  flag (default False, as in every 2012 layers file that uses cmrnorm).
  """
  x = np.asarray(x, dtype=np.float64)
  if x.ndim != 4:
    raise ValueError(f"x must be NHWC, got shape {x.shape}")
  if size < 1:
    raise ValueError(f"size must be positive, got {size}")
  add_scale = scale / size  # layer.py:1183, cmrnorm
  n, h, w, c = x.shape
  out = np.empty_like(x)
  for b in range(n):
    for i in range(h):
      for k in range(w):
        for f in range(c):
          if blocked:
            lo = (f // size) * size
          else:
            lo = f - size // 2
          hi = min(c, lo + size)  # one past the last map summed
          lo = max(0, lo)
          total = 0.0
          for j in range(lo, hi):
            total += x[b, i, k, j] ** 2
          out[b, i, k, f] = x[b, i, k, f] * (min_div + add_scale * total) ** (-pow)
  return out


def rnorm(x, size, scale, pow, min_div=1.0):  # noqa: A002 (the 2012 name)
  """Within-map (spatial) response normalisation (`type=rnorm`) of NHWC `x`.

  Takes the parameter files' values as written (e.g. size=5, scale=0.001, pow=0.75:
  yrmo/AlexNet-Source-Code layers/layer-params-145.cfg:157-163 with size in
  layers/layers-145.cfg:111) and applies layer.py:1183's `scale / size**2`.
  out[n, y, x, c] = x[n, y, x, c] * (min_div + scale / size**2 * S) ** -pow, S the sum
  of map c's squares over the clipped size x size window centred as above (2012
  cuda-convnet src/cudaconv2/conv_util.cu:758-804, 842-889, 947-1013). The 2012 parser
  reads no minDiv for rnorm (layer.py:1185-1186) and the 2012 call passes none
  (src/layer.cu:1569): the kernel's constant is 1, this function's default.
  """
  x = np.asarray(x, dtype=np.float64)
  if x.ndim != 4:
    raise ValueError(f"x must be NHWC, got shape {x.shape}")
  if size < 1:
    raise ValueError(f"size must be positive, got {size}")
  add_scale = scale / size ** 2  # layer.py:1183, rnorm
  n, h, w, c = x.shape
  out = np.empty_like(x)
  for b in range(n):
    for i in range(h):
      row_lo, row_hi = max(0, i - size // 2), min(h, i - size // 2 + size)
      for k in range(w):
        col_lo, col_hi = max(0, k - size // 2), min(w, k - size // 2 + size)
        for f in range(c):
          total = 0.0
          for y in range(row_lo, row_hi):
            for xx in range(col_lo, col_hi):
              total += x[b, y, xx, f] ** 2
          out[b, i, k, f] = x[b, i, k, f] * (min_div + add_scale * total) ** (-pow)
  return out

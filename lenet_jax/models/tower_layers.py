"""AlexNet's layers split into towers (Krizhevsky et al. 2012, section 3.2, figure 2).

Every parameter (and statistic) carries a leading `towers` axis: tower t holds what GPU t
held. Each layer runs two ways: `__call__` on one device, the towers side by side (a
tower-local convolution as a grouped convolution over the towers' concatenated maps), and
`tower(x, ...)` on one device of a mesh whose values hold that tower only (leading axis
of size 1), under shard_map or pmap (lenet_jax.training.parallel).
"""

import jax
import jax.numpy as jnp
from flax import nnx

from lenet_jax.models import alexnet_ops, sampling


def gaussian(key, shape, std):
  return std * sampling.normal(key, shape)


def uniform(key, shape, bound):
  return sampling.uniform(key, shape, jnp.float32, -bound, bound)


class TowerConv(nnx.Module):
  """A convolution split over towers; `local` ones read only their own tower's maps.

  `init(key, shape, fan_in) -> (kernel, bias)` draws the values (the network's initialiser
  for this layer); `padding`: ((top, bottom), (left, right))."""

  def __init__(self, towers, in_features, out_features, kernel, stride, padding, local, *,
               init, rngs, grouped_conv, channel_multiple, space_to_depth=False):
    in_per = in_features // towers if local else in_features
    shape = (towers, kernel, kernel, in_per, out_features // towers)
    weights, bias = init(rngs.params(), shape, kernel * kernel * in_per)
    self.kernel = nnx.Param(weights)
    self.bias = nnx.Param(bias)
    self.towers, self.stride, self.padding, self.local = towers, stride, padding, local
    self.grouped_conv = grouped_conv
    self.channel_multiple = channel_multiple
    self.space_to_depth = space_to_depth

  def _conv(self, x, kernel, groups=1):
    if self.space_to_depth and groups == 1:
      x = jnp.pad(x, ((0, 0),) + tuple(self.padding) + ((0, 0),))
      return alexnet_ops.space_to_depth_conv(x, kernel, self.stride)
    extra = -x.shape[-1] % self.channel_multiple if groups == 1 else 0
    if extra:  # zero channels in the input and the kernel: the same sums, aligned shapes
      x = jnp.pad(x, ((0, 0), (0, 0), (0, 0), (0, extra)))
      kernel = jnp.pad(kernel, ((0, 0), (0, 0), (0, extra), (0, 0)))
    return jax.lax.conv_general_dilated(
        x, kernel.astype(x.dtype), (self.stride, self.stride), [tuple(p) for p in self.padding],
        dimension_numbers=("NHWC", "HWIO", "NHWC"), feature_group_count=groups)

  def __call__(self, x):
    kernel, bias = self.kernel[...], self.bias[...]
    t = self.towers
    if self.local and t > 1 and self.grouped_conv == "split":
      # Each tower's conv on its own maps, then concatenated: XLA's grouped-conv
      # backward pass is slow (jax-ml/jax#13800).
      xs = jnp.split(x, t, axis=-1)
      y = jnp.concatenate([self._conv(xs[i], kernel[i]) for i in range(t)], axis=-1)
    else:
      full = jnp.concatenate(list(kernel), axis=-1)  # towers' filters side by side
      y = self._conv(x, full, groups=t if self.local else 1)
    return y + bias.reshape(1, 1, 1, -1).astype(y.dtype)

  def tower(self, x):
    """This device's tower: parameters hold one tower (leading axis 1)."""
    return self._conv(x, self.kernel[0]) + self.bias[0].reshape(1, 1, 1, -1).astype(x.dtype)

  def connections(self, in_shape, out_shape):
    k = self.kernel.shape
    return out_shape[0] * out_shape[1] * out_shape[2] * (k[1] * k[2] * k[3] + 1)


class TowerDense(nnx.Module):
  """A fully connected layer whose outputs are split over towers (inputs from all)."""

  def __init__(self, towers, in_features, out_features, *, init, rngs):
    weights, bias = init(rngs.params(), (towers, in_features, out_features // towers),
                         in_features)
    self.kernel = nnx.Param(weights)
    self.bias = nnx.Param(bias)

  def __call__(self, x):
    kernel = jnp.concatenate(list(self.kernel[...]), axis=-1)
    return x @ kernel.astype(x.dtype) + self.bias[...].reshape(1, -1).astype(x.dtype)

  def tower(self, x):
    return x @ self.kernel[0].astype(x.dtype) + self.bias[0].reshape(1, -1).astype(x.dtype)

  def connections(self, in_shape, out_shape):
    return (in_shape[-1] + 1) * out_shape[-1]


class TowerBatchNorm(nnx.Module):
  """Batch normalisation (Ioffe & Szegedy 2015, algorithm 1) of NHWC maps split into
  towers, each tower's channels with their own scale, bias and statistics.

  In training (nnx's train(): `use_running_average` False) each channel is normalised
  with the batch's mean and (biased) variance over batch, height and width, and the
  running averages move towards them: running = momentum * running + (1 - momentum) *
  batch, as Flax's nnx.BatchNorm keeps them (PyTorch's BatchNorm2d keeps the unbiased
  variance instead, and writes 1 - momentum). In evaluation the running averages are used.
  On a mesh, `tower` takes the batch's statistics over every data shard (`comm`), so the
  devices normalise as one device would and keep equal running statistics.
  """

  def __init__(self, towers, features, *, momentum, epsilon):
    per = features // towers
    self.scale = nnx.Param(jnp.ones((towers, per), jnp.float32))
    self.bias = nnx.Param(jnp.zeros((towers, per), jnp.float32))
    self.mean = nnx.BatchStat(jnp.zeros((towers, per), jnp.float32))
    self.var = nnx.BatchStat(jnp.ones((towers, per), jnp.float32))
    self.momentum, self.epsilon = momentum, epsilon
    self.use_running_average = False

  def _normalize(self, x, mean_over_batch, stats):
    """`x` normalised; `stats` (scale, bias, mean, var) flat over x's channels;
    `mean_over_batch(y)`: y's mean over the global batch, height and width."""
    maps = lambda v: v.reshape(1, 1, 1, -1)  # noqa: E731  a value per channel
    scale, bias, running_mean, running_var = (maps(v) for v in stats)
    xf = x.astype(jnp.float32)
    if self.use_running_average:
      mean, var = running_mean, running_var
    else:
      mean = maps(mean_over_batch(xf))
      var = maps(mean_over_batch(jnp.square(xf - mean)))
      m = self.momentum
      self.mean.value = m * self.mean[...] + (1 - m) * mean.reshape(self.mean.shape)
      self.var.value = m * self.var[...] + (1 - m) * var.reshape(self.var.shape)
    y = (xf - mean) * jax.lax.rsqrt(var + self.epsilon) * scale + bias
    return y.astype(x.dtype)

  def __call__(self, x):
    flat = lambda v: v[...].reshape(-1)  # noqa: E731  the towers' channels side by side
    return self._normalize(x, lambda y: jnp.mean(y, axis=(0, 1, 2)),
                           tuple(flat(v) for v in (self.scale, self.bias, self.mean, self.var)))

  def tower(self, x, comm):
    """This device's tower (values of one tower, leading axis 1) on its rows of the batch."""
    return self._normalize(x, lambda y: comm.mean_over_data(jnp.mean(y, axis=(0, 1, 2))),
                           tuple(v[0] for v in (self.scale, self.bias, self.mean, self.var)))

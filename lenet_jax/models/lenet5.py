"""LeNet-5 (LeCun, Bottou, Bengio, Haffner 1998, "Gradient-based learning
applied to document recognition", section II.B), every piece switchable.

The network is a sequence of named stages, in the paper's words:

  C1  5x5 convolution, 6 maps                      (32x32 -> 28x28)
  S2  2x2 pooling or the paper's subsampling        (28x28 -> 14x14)
  C3  5x5 convolution, 16 maps, full or the paper's connection table (Table I)
  S4  2x2 pooling or subsampling                    (10x10 -> 5x5)
  C5  5x5 convolution, 120 maps                     (5x5 -> 1x1 on 32x32 input)
  F6  fully connected, 84 units
  OUTPUT  dense logits, or the paper's Euclidean RBF units

`activation='relu', pooling='max', c3='full', output='dense'` is the network
most tutorials teach; `activation='scaled_tanh', pooling='subsample',
c3='table', output='rbf', init='paper'` is the 1998 network.

`implementation` picks how convolutions and 2x2 pooling are computed, never
what they compute: 'xla' (`lax.conv_general_dilated`, `reduce_window`) or
'matmul' (`lenet_jax.models.matmul_ops`: banded matrix products and slices,
several times faster on CPUs). The parameters are the same either way.

Each stage reports the connections it makes (one multiply-add per input, the
bias counted as one input, the paper's way) so that `lenet_jax.summary` can
print the paper's table.
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from lenet_jax.common.errors import ConfigError, check_choice
from lenet_jax.models import losses, matmul_ops, registry, sampling
from lenet_jax.models.activations import ACTIVATIONS, NON_DECREASING
from lenet_jax.models.bitmaps import prototypes

ACTIVATION_NAMES = tuple(ACTIVATIONS)
POOLINGS = ("max", "avg", "subsample")
C3_CONNECTIONS = ("full", "table")
OUTPUTS = ("dense", "rbf")
INITS = ("default", "paper")
IMPLEMENTATIONS = ("xla", "matmul")
NORMS = ("none", "batchnorm")

# Table I of the paper: which S2 maps (rows) each C3 map (columns) reads.
# Maps 0-5 read 3 contiguous maps, 6-11 read 4 contiguous, 12-14 read 4
# non-contiguous, 15 reads all six.
C3_TABLE = tuple(
    [tuple((i + k) % 6 for k in range(3)) for i in range(6)]
    + [tuple((i + k) % 6 for k in range(4)) for i in range(6)]
    + [(0, 1, 3, 4), (1, 2, 4, 5), (0, 2, 3, 5), tuple(range(6))]
)


def paper_init(fan_in: int):
  """Appendix A: weights uniform in (-2.4/F_i, 2.4/F_i), F_i the unit's fan-in."""
  bound = 2.4 / fan_in

  def init(key, shape, dtype=jnp.float32):
    return sampling.uniform(key, shape, dtype, -bound, bound)

  return init


def _fan_in_init(init: str, fan_in: int, default):
  return paper_init(fan_in) if init == "paper" else default


def _spatial(shape):
  h, w, _ = shape
  return h * w


def _activation(name):
  return ACTIVATIONS[name] if name else (lambda x: x)


def batch_norm(norm, features: int, rngs):
  """The BatchNorm of `norm` ((momentum, epsilon), or None for none) on `features` maps or
  units: Ioffe & Szegedy 2015, on a layer's weighted sums before its squashing function
  (their section 3.2)."""
  if norm is None:
    return None
  momentum, epsilon = norm
  return nnx.BatchNorm(features, momentum=momentum, epsilon=epsilon, rngs=rngs)


class Conv(nnx.Module):
  """A VALID convolution followed by the activation (C1, C3 full, C5; none if None), with
  BatchNorm between them when `norm` is given ((momentum, epsilon))."""

  def __init__(self, in_features, out_features, kernel_size, activation, init, *, rngs,
               implementation="xla", norm=None):
    fan_in = kernel_size * kernel_size * in_features
    self.conv = nnx.Conv(
        in_features, out_features, (kernel_size, kernel_size), padding="VALID",
        kernel_init=_fan_in_init(init, fan_in, sampling.lecun_normal()),
        bias_init=_fan_in_init(init, fan_in, nnx.initializers.zeros_init()),
        rngs=rngs)
    self.activation = _activation(activation)
    self.fan_in = fan_in
    self.implementation = implementation
    self.norm = batch_norm(norm, out_features, rngs)

  def pre_activation(self, x):
    """The layer's weighted sums (what SDLM's paper curvature back-propagates through),
    normalised when the layer has a BatchNorm."""
    if self.implementation == "xla":
      y = self.conv(x)
    else:
      y = matmul_ops.conv2d(x, self.conv.kernel[...], self.conv.bias[...])
    return y if self.norm is None else self.norm(y)

  def __call__(self, x):
    return self.activation(self.pre_activation(x))

  def connections(self, in_shape, out_shape):
    return _spatial(out_shape) * out_shape[-1] * (self.fan_in + 1)


class TableConv(nnx.Module):
  """A convolution with a sparse connection table: LeNet-5's C3 (Table I), LeNet-1's.

  `table[o]` lists the input maps output map o reads. Only the connected
  (input map, output map) kernels are parameters: they are stored packed, shape
  (k, k, connections), and scattered into a dense kernel whose other entries
  are structural zeros, so they are not parameters and stay exactly zero
  through training.
  """

  def __init__(self, in_features, out_features, kernel_size, activation, init, *, rngs,
               implementation="xla", table=C3_TABLE, norm=None):
    if out_features != len(table) or not all(0 <= i < in_features for m in table for i in m):
      raise ValueError(f"the connection table must list, for each of {out_features} output "
                       f"maps, input maps among {in_features}")
    self.in_features = in_features
    self.in_index = np.array([i for m in table for i in m], np.int32)
    self.out_index = np.array([o for o, m in enumerate(table) for _ in m], np.int32)
    maps_read = np.array([len(m) for m in table], np.int32)
    self.maps_read = tuple(int(n) for n in maps_read)  # static: counts need no values
    self.kernel_size = kernel_size
    self.out_features = out_features
    n = len(self.in_index)
    k = kernel_size
    if init == "paper":
      fan_in = k * k * maps_read  # per output map
      bound_k = 2.4 / fan_in[self.out_index]
      bound_b = 2.4 / fan_in
      kernel = sampling.uniform(rngs.params(), (k, k, n), jnp.float32, -1, 1) * bound_k[None, None]
      bias = sampling.uniform(rngs.params(), (out_features,), jnp.float32, -1, 1) * bound_b
    else:
      # Each connected kernel gets the variance LeCun-normal gives its own map.
      std = np.sqrt(1.0 / (k * k * maps_read[self.out_index])) / 0.87962566
      kernel = sampling.truncated_normal(rngs.params(), -2, 2, (k, k, n)) * std[None, None]
      bias = jnp.zeros((out_features,))
    self.kernel = nnx.Param(kernel)
    self.bias = nnx.Param(bias)
    self.activation = _activation(activation)
    self.implementation = implementation
    self.norm = batch_norm(norm, out_features, rngs)

  def dense_kernel(self):
    k = self.kernel_size
    dense = jnp.zeros((k, k, self.in_features, self.out_features), self.kernel.dtype)
    return dense.at[:, :, self.in_index, self.out_index].set(self.kernel[...])

  def pre_activation(self, x):
    kernel = self.dense_kernel().astype(x.dtype)
    if self.implementation == "matmul":
      y = matmul_ops.conv2d(x, kernel, self.bias[...])
    else:
      y = jax.lax.conv_general_dilated(x, kernel, (1, 1), "VALID",
                                       dimension_numbers=("NHWC", "HWIO", "NHWC"))
      y = y + self.bias[...].reshape(1, 1, 1, -1)
    return y if self.norm is None else self.norm(y)

  def __call__(self, x):
    return self.activation(self.pre_activation(x))

  def connections(self, in_shape, out_shape):
    per_map = self.kernel_size ** 2 * np.array(self.maps_read) + 1
    return int(_spatial(out_shape) * per_map.sum())


class Pool(nnx.Module):
  """2x2 stride-2 pooling: `max`, `avg`, or the paper's `subsample`.

  Subsampling (section II.B, S2 and S4): the four inputs are added, multiplied
  by one trainable coefficient per map, a trainable bias per map is added, and
  the result goes through the network's squashing function (its activation).
  With `activate`, max and average pooling apply the activation to their output
  (the convolution before them then leaves it out).
  """

  def __init__(self, kind, features, activation, init, *, rngs, implementation="xla",
               activate=False):
    self.kind = kind
    self.implementation = implementation
    self.activate = activate
    if activate or kind == "subsample":
      self.activation = ACTIVATIONS[activation]
    if kind == "subsample":
      if init == "paper":
        self.coefficient = nnx.Param(paper_init(4)(rngs.params(), (features,)))
        self.bias = nnx.Param(paper_init(4)(rngs.params(), (features,)))
      else:
        # Starts as an average pool.
        self.coefficient = nnx.Param(jnp.full((features,), 0.25))
        self.bias = nnx.Param(jnp.zeros((features,)))

  def __call__(self, x):
    matmul = self.implementation == "matmul"
    if self.kind != "subsample":
      if self.kind == "max":
        y = matmul_ops.max_pool(x) if matmul else nnx.max_pool(x, (2, 2), (2, 2))
      else:
        y = matmul_ops.avg_pool(x) if matmul else nnx.avg_pool(x, (2, 2), (2, 2))
      return self.activation(y) if self.activate else y
    return self.activation(self.pre_activation(x))

  def pre_activation(self, x):
    """Subsampling's weighted sums: coefficient x (sum of the 2x2 window) + bias."""
    if self.kind != "subsample":
      raise NotImplementedError("only the paper's subsampling has weighted sums of its own")
    n, h, w, c = x.shape
    window_sum = x.reshape(n, h // 2, 2, w // 2, 2, c).sum(axis=(2, 4))
    return window_sum * self.coefficient[...].reshape(1, 1, 1, c) + self.bias[...].reshape(
        1, 1, 1, c)

  def connections(self, in_shape, out_shape):
    inputs = 5 if self.kind == "subsample" else 4
    return _spatial(out_shape) * out_shape[-1] * inputs


class Dense(nnx.Module):
  """A fully connected layer, with an optional activation (F6, dense OUTPUT)."""

  def __init__(self, in_features, out_features, activation, init, *, rngs, norm=None):
    self.linear = nnx.Linear(
        in_features, out_features,
        kernel_init=_fan_in_init(init, in_features, sampling.lecun_normal()),
        bias_init=_fan_in_init(init, in_features, nnx.initializers.zeros_init()),
        rngs=rngs)
    self.activation = ACTIVATIONS[activation] if activation else None
    self.norm = batch_norm(norm, out_features, rngs)

  def pre_activation(self, x):
    y = self.linear(x.reshape(x.shape[0], -1))
    return y if self.norm is None else self.norm(y)

  def __call__(self, x):
    y = self.pre_activation(x)
    return self.activation(y) if self.activation else y

  def connections(self, in_shape, out_shape):
    return (math.prod(in_shape) + 1) * out_shape[-1]


class Prototypes(nnx.Variable):
  """Fixed, non-trainable RBF centres (never a `nnx.Param`)."""


class RBF(nnx.Module):
  """Euclidean RBF output units (section II.B, eq. 7): y_i = sum_j (x_j - w_ij)^2.

  Returns -y as logits, so argmax picks the nearest prototype and the MAP loss
  (`lenet_jax.losses.map_loss`) reads like a cross-entropy.
  """

  def __init__(self, in_features, num_classes):
    centres = prototypes()
    if in_features != centres.shape[1] or num_classes > centres.shape[0]:
      raise ValueError("RBF output needs F6 with 84 units and at most 10 classes")
    self.prototypes = Prototypes(jnp.asarray(centres[:num_classes]))

  def __call__(self, x):
    diff = x[:, None, :] - self.prototypes[...][None].astype(x.dtype)
    return -jnp.sum(diff * diff, axis=-1)

  def connections(self, in_shape, out_shape):
    return in_shape[-1] * out_shape[-1]


class StagedNet(nnx.Module):
  """A network that is a sequence of named stages (LeNet-1, LeNet-4, LeNet-5).

  A subclass sets `fused_c1_s2`, `c1`, `s2`, `output` and lists its stages."""

  def stages(self):
    raise NotImplementedError

  def features(self, x):
    """The outputs of the stage before the output layer."""
    stages = self.stages()[:-1]
    if self.fused_c1_s2:
      conv = self.c1.conv
      x = self.s2.activation(matmul_ops.conv_max_pool(x, conv.kernel[...], conv.bias[...]))
      stages = stages[2:]
    for _, stage in stages:
      x = stage(x)
    return x

  def __call__(self, x, *, train: bool = False, rngs=None):
    del train, rngs  # no dropout; the signature matches other models.
    return self.output(self.features(x))


def fuses_c1_s2(implementation, pooling, activation, norm) -> bool:
  """Whether the matmul implementation activates after max pooling and computes C1
  and S2 as one product.

  max f(z) = f(max z) for a non-decreasing f, and the gradients agree too (the
  window's winner is the same, or its gradient is zero either way), so the
  activation may run on a quarter of the values; one product (conv_max_pool) is
  faster than two steps on a CPU. `stages()` still run them one at a time. A BatchNorm
  between the convolution and the activation (`norm`) keeps them apart.
  """
  return (implementation == "matmul" and pooling == "max" and activation in NON_DECREASING
          and norm is None)


def check_implementation(implementation):
  if implementation not in IMPLEMENTATIONS:
    raise ValueError(f"implementation must be one of {IMPLEMENTATIONS}, got {implementation!r}")


class LeNet5(StagedNet):
  """LeNet-5 with switchable activation, pooling, C3 connectivity, output, init and
  normalisation (`norm`: None, or BatchNorm's (momentum, epsilon) on C1, C3, C5 and F6)."""

  def __init__(self, *, input_shape, num_classes, activation, pooling, c3, output, init,
               implementation, norm, rngs: nnx.Rngs):
    h, w, channels = input_shape
    if h < 32 or w < 32:
      raise ValueError(f"LeNet-5 needs inputs of at least 32x32, got {h}x{w}")
    check_implementation(implementation)
    impl = dict(rngs=rngs, implementation=implementation, norm=norm)
    after_pool = fuses_c1_s2(implementation, pooling, activation, norm)
    conv_activation = None if after_pool else activation
    self.fused_c1_s2 = after_pool
    self.c1 = Conv(channels, 6, 5, conv_activation, init, **impl)
    self.s2 = Pool(pooling, 6, activation, init, activate=after_pool, rngs=rngs,
                   implementation=implementation)
    c3_cls = TableConv if c3 == "table" else Conv
    self.c3 = c3_cls(6, 16, 5, conv_activation, init, **impl)
    self.s4 = Pool(pooling, 16, activation, init, activate=after_pool, rngs=rngs,
                   implementation=implementation)
    self.c5 = Conv(16, 120, 5, activation, init, **impl)
    c5_h, c5_w = (h - 4) // 2, (w - 4) // 2
    c5_h, c5_w = (c5_h - 4) // 2 - 4, (c5_w - 4) // 2 - 4
    self.f6 = Dense(c5_h * c5_w * 120, 84, activation, init, rngs=rngs, norm=norm)
    if output == "rbf":
      self.output = RBF(84, num_classes)
    else:
      self.output = Dense(84, num_classes, None, init, rngs=rngs)
    self.output_kind = output

  def stages(self):
    """(name, stage) in order; each stage maps the previous one's output."""
    return [("C1", self.c1), ("S2", self.s2), ("C3", self.c3), ("S4", self.s4),
            ("C5", self.c5), ("F6", self.f6), ("OUTPUT", self.output)]


def validate_stages(model_config) -> None:
  """The knobs every LeNet shares: activation, pooling, init, implementation, norm."""
  check_choice("model.activation", model_config.activation, ACTIVATION_NAMES)
  check_choice("model.pooling", model_config.pooling, POOLINGS)
  check_choice("model.init", model_config.init, INITS)
  check_choice("model.implementation", model_config.implementation, ("auto",) + IMPLEMENTATIONS)
  check_choice("model.norm", model_config.norm, NORMS)
  momentum = model_config.batchnorm_momentum
  if isinstance(momentum, bool) or not isinstance(momentum, (int, float)) or not 0 <= momentum < 1:
    raise ConfigError("model.batchnorm_momentum", momentum, "must be a number in [0, 1)")
  epsilon = model_config.batchnorm_epsilon
  if isinstance(epsilon, bool) or not isinstance(epsilon, (int, float)) or not epsilon > 0:
    raise ConfigError("model.batchnorm_epsilon", epsilon, "must be a number > 0")


def resolve_stages(model_config) -> dict:
  """{'implementation': ...}: 'auto' is 'matmul' on a CPU, 'xla' on GPUs and TPUs."""
  chosen = model_config.implementation
  if chosen == "auto":
    chosen = "matmul" if jax.default_backend() == "cpu" else "xla"
  return {"implementation": chosen}


def stage_kwargs(model_config, knobs, input_shape, num_classes) -> dict:
  """The constructor arguments every LeNet takes from its config section."""
  norm = None
  if model_config.norm == "batchnorm":
    norm = (model_config.batchnorm_momentum, model_config.batchnorm_epsilon)
  return dict(input_shape=tuple(input_shape), num_classes=num_classes,
              activation=model_config.activation, pooling=model_config.pooling,
              init=model_config.init, implementation=knobs["implementation"], norm=norm)


def arguments(model_config, knobs, input_shape, num_classes) -> dict:
  """LeNet5's constructor arguments (all but rngs) from its config section."""
  return dict(stage_kwargs(model_config, knobs, input_shape, num_classes),
              c3=model_config.c3, output=model_config.output)


def _validate(model_config, num_classes: int) -> None:
  validate_stages(model_config)
  check_choice("model.c3", model_config.c3, C3_CONNECTIONS)
  check_choice("model.output", model_config.output, OUTPUTS)
  if model_config.output == "rbf" and num_classes > 10:
    raise ConfigError("model.output", "rbf", f"the RBF prototypes cover 10 classes, the "
                      f"dataset has {num_classes}; use 'dense'")
  if not np.isfinite(model_config.map_j):
    raise ConfigError("model.map_j", model_config.map_j, "must be a finite number")


def _build(model_config, knobs, input_shape, num_classes, rngs):
  return LeNet5(**arguments(model_config, knobs, input_shape, num_classes), rngs=rngs)


def _loss(model_config):
  """MAP (eq. 9) for the RBF output, else softmax cross-entropy."""
  if model_config.output == "rbf":
    return losses.map_criterion(float(model_config.map_j))
  return losses.cross_entropy


def check_run(config) -> None:
  """SDLM's paper curvature back-propagates second derivatives through every stage's
  weighted sums: the paper's subsampling has them, max and average pooling do not. And
  SDLM's curvature holds a network's statistics fixed, which BatchNorm's are not."""
  if config.optimizer == "sdlm" and config.model.norm != "none":
    raise ConfigError("optimizer", "sdlm", "SDLM's curvature is taken with fixed statistics; "
                      "BatchNorm's move with every batch: use model.norm='none'")
  if (config.optimizer == "sdlm" and config.sdlm.curvature == "paper"
      and config.model.pooling != "subsample"):
    raise ConfigError("sdlm.curvature", "paper", "the paper's estimate needs weighted sums in "
                      "every layer: use model.pooling='subsample' (the paper's S2 and S4)")


# Keys the LeNet configs gained after runs were recorded, with the values used before.
LEGACY = {"data.pad_to": 32, "data.digit_size": 0, "model.norm": "none",
          "model.batchnorm_momentum": 0.9, "model.batchnorm_epsilon": 1e-5}

registry.register(registry.Family("lenet5", build=_build, validate=_validate,
                                  resolve=resolve_stages, loss=_loss, check=check_run,
                                  legacy=LEGACY))

"""LeNet-1 and LeNet-4, LeNet-5's predecessors (LeCun et al. 1998, section III.C.6),
built from LeNet-5's stages (`lenet_jax.models.lenet5`), every knob shared.

LeNet-1 (the network of LeCun et al. 1990, "Handwritten digit recognition with a
back-propagation network"): "the input images were down-sampled to 16x16 pixels
and centered in the 28x28 input layer ... about 2600 free parameters".

  C1  5x5 convolution, 4 maps                          (28x28 -> 24x24)
  S2  2x2 pooling or subsampling                       (24x24 -> 12x12)
  C3  5x5 convolution, 12 maps, 20 kernels (`LENET1_TABLE`) or full (12x12 -> 8x8)
  S4  2x2 pooling or subsampling                       (8x8 -> 4x4)
  OUTPUT  10 units fully connected to S4's 192

With subsampling, this has exactly the 1990 paper's 2,578 free parameters and
98,442 connections. The 1990 count fixes the number of C3 kernels (20), not
which S2 maps each C3 map reads: `LENET1_TABLE` is our choice (every S2 map
feeds five C3 maps).

LeNet-4: "a 32x32 input layer in which the 20x20 images (not deslanted) were
centered by center of mass ... expanded to contain more feature maps and an
additional layer of hidden units that is fully connected to both the last layer
of feature maps and to the output units. LeNet-4 contains about 260,000
connections and has about 17,000 free parameters."

  C1  5x5 convolution, 4 maps                          (32x32 -> 28x28)
  S2  2x2 pooling or subsampling                       (28x28 -> 14x14)
  C3  5x5 convolution, 16 maps, each reading all four  (14x14 -> 10x10)
  S4  2x2 pooling or subsampling                       (10x10 -> 5x5)
  F5  `hidden` units fully connected to S4's 400
  OUTPUT  10 units fully connected to F5

The paper states neither the map counts nor the hidden layer's size; both are our
assumptions. We keep LeNet-1's 4 first-layer maps and take LeNet-5's 16 for C3.
With those (and subsampling), h hidden units give 1,770 + 411h parameters and
249,066 + 411h connections, so the paper's two totals cannot both be met: h = 37
(`model.hidden`, the default) gives 16,977 parameters (its "about 17,000") and
264,273 connections (1.6% above its "about 260,000"); h = 27 would give 260,163
connections but 12,867 parameters. We match the parameter count.
"""

from flax import nnx

from lenet_jax.common.errors import check_choice, check_int
from lenet_jax.models import registry
from lenet_jax.models.lenet5 import (LEGACY, Conv, Dense, Pool, StagedNet, TableConv,
                                     check_implementation, check_run, fuses_c1_s2,
                                     resolve_stages, stage_kwargs, validate_stages)

# Which S2 maps each of LeNet-1's 12 C3 maps reads: each S2 map alone, every pair,
# and the two diagonal pairs again, so every S2 map feeds five C3 maps (20 kernels).
LENET1_TABLE = ((0,), (1,), (2,), (3,), (0, 1), (1, 2), (2, 3), (0, 3), (0, 2), (1, 3),
                (0, 2), (1, 3))
LENET1_C3 = ("table", "full")


def _checked(name, input_shape, size, implementation):
  h, w, _ = input_shape
  if h < size or w < size:
    raise ValueError(f"{name} needs inputs of at least {size}x{size}, got {h}x{w}")
  check_implementation(implementation)


def _front(model, input_shape, c3_maps, table, activation, pooling, init, rngs,
           implementation, norm) -> int:
  """Sets both networks' C1 (4 maps), S2, C3 (`c3_maps`, through `table` or from all
  four S2 maps) and S4 on `model`; returns the number of S4's outputs."""
  h, w, channels = input_shape
  impl = dict(rngs=rngs, implementation=implementation)
  model.fused_c1_s2 = fuses_c1_s2(implementation, pooling, activation, norm)
  conv_activation = None if model.fused_c1_s2 else activation
  model.c1 = Conv(channels, 4, 5, conv_activation, init, norm=norm, **impl)
  model.s2 = Pool(pooling, 4, activation, init, activate=model.fused_c1_s2, **impl)
  if table is None:
    model.c3 = Conv(4, c3_maps, 5, conv_activation, init, norm=norm, **impl)
  else:
    model.c3 = TableConv(4, c3_maps, 5, conv_activation, init, table=table, norm=norm, **impl)
  model.s4 = Pool(pooling, c3_maps, activation, init, activate=model.fused_c1_s2, **impl)
  return (((h - 4) // 2 - 4) // 2) * (((w - 4) // 2 - 4) // 2) * c3_maps


class LeNet1(StagedNet):
  """LeNet-1 with LeNet-5's switchable activation, pooling, init, implementation and
  normalisation."""

  def __init__(self, *, input_shape, num_classes, activation, pooling, c3, init,
               implementation, norm, rngs: nnx.Rngs):
    _checked("LeNet-1", input_shape, 28, implementation)
    table = LENET1_TABLE if c3 == "table" else None
    s4_size = _front(self, input_shape, 12, table, activation, pooling, init, rngs,
                     implementation, norm)
    self.output = Dense(s4_size, num_classes, None, init, rngs=rngs)

  def stages(self):
    return [("C1", self.c1), ("S2", self.s2), ("C3", self.c3), ("S4", self.s4),
            ("OUTPUT", self.output)]


class LeNet4(StagedNet):
  """LeNet-4 with LeNet-5's switchable activation, pooling, init, implementation and
  normalisation."""

  def __init__(self, *, input_shape, num_classes, activation, pooling, hidden, init,
               implementation, norm, rngs: nnx.Rngs):
    _checked("LeNet-4", input_shape, 32, implementation)
    s4_size = _front(self, input_shape, 16, None, activation, pooling, init, rngs,
                     implementation, norm)
    self.f5 = Dense(s4_size, hidden, activation, init, rngs=rngs, norm=norm)
    self.output = Dense(hidden, num_classes, None, init, rngs=rngs)

  def stages(self):
    return [("C1", self.c1), ("S2", self.s2), ("C3", self.c3), ("S4", self.s4),
            ("F5", self.f5), ("OUTPUT", self.output)]


def _validate_lenet1(model_config, num_classes: int) -> None:
  del num_classes
  validate_stages(model_config)
  check_choice("model.c3", model_config.c3, LENET1_C3)


def _validate_lenet4(model_config, num_classes: int) -> None:
  del num_classes
  validate_stages(model_config)
  check_int("model.hidden", model_config.hidden)


def lenet1_arguments(model_config, knobs, input_shape, num_classes) -> dict:
  """LeNet1's constructor arguments (all but rngs) from its config section."""
  return dict(stage_kwargs(model_config, knobs, input_shape, num_classes), c3=model_config.c3)


def lenet4_arguments(model_config, knobs, input_shape, num_classes) -> dict:
  """LeNet4's constructor arguments (all but rngs) from its config section."""
  return dict(stage_kwargs(model_config, knobs, input_shape, num_classes),
              hidden=model_config.hidden)


registry.register(registry.Family(
    "lenet1", build=lambda c, knobs, shape, classes, rngs: LeNet1(
        **lenet1_arguments(c, knobs, shape, classes), rngs=rngs),
    validate=_validate_lenet1, resolve=resolve_stages, check=check_run, legacy=LEGACY))
registry.register(registry.Family(
    "lenet4", build=lambda c, knobs, shape, classes, rngs: LeNet4(
        **lenet4_arguments(c, knobs, shape, classes), rngs=rngs),
    validate=_validate_lenet4, resolve=resolve_stages, check=check_run, legacy=LEGACY))

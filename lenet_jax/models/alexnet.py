"""AlexNet (Krizhevsky, Sutskever, Hinton 2012, "ImageNet classification with deep
convolutional neural networks", section 3 and figure 2), with its two-GPU split, and the
other published AlexNets as knobs: the 2012 code's choices (cuda-convnet, layers-145.cfg),
Caffe's bvlc_alexnet and torchvision's alexnet (experiments/alexnet/deviations lists every
point where they differ, with its source).

Every layer's parameters carry a leading `towers` axis (lenet_jax.models.tower_layers):
tower t holds the filters GPU t held (conv1's 48 of 96, conv2's 128 of 256, ...). The
same parameters run two ways:

- `__call__`: one device. Tower-local layers (conv2, conv4, conv5) are grouped
  convolutions over the towers' concatenated maps; conv3 and the FC layers read
  every map. Normalisation windows stay inside a tower (except Caffe's LRN).
- `tower_forward`: the per-tower computation, run under `jax.shard_map` or
  `jax.pmap` with one tower per device of a mesh axis. Where the GPUs exchanged
  activations (into conv3 and each FC layer) an `all_gather` over that axis
  collects both towers' maps.

towers=1 is the ungrouped single-GPU network. The constructor takes every knob from the
config (configs/alexnet.py holds the defaults and what each one means); `arguments` maps
the config to it.
"""

import functools

import jax
import jax.numpy as jnp
from flax import nnx

from lenet_jax.common.errors import ConfigError, check_choice, check_int
from lenet_jax.models import abstract, alexnet_ops, registry
from lenet_jax.models.activations import ACTIVATIONS, NON_DECREASING
from lenet_jax.models.lrn import FORMS as LRN_FORMS
from lenet_jax.models.lrn import RNORM_2012, lrn, within_map
from lenet_jax.models.tower_layers import (TowerBatchNorm, TowerConv, TowerDense, gaussian,
                                           uniform)

LAYERS = ("conv1", "conv2", "conv3", "conv4", "conv5", "fc6", "fc7", "fc8")
INITS = ("paper", "caffe", "he", "torchvision")
# Section 5: biases of 1 in conv2, conv4, conv5 and the hidden FC layers, 0 elsewhere (the
# 2012 code's initB agree, layers-145.cfg); Caffe's bvlc_alexnet has 0.1 where these are 1.
PAPER_BIASES = (0.0, 1.0, 0.0, 1.0, 1.0, 1.0, 1.0, 0.0)
NORMS = ("lrn", "batchnorm", "none")
CONV1_NORM_INPUTS = ("relu", "linear")
POOLINGS = ("overlapping", "nonoverlapping")
DROPOUT_PLACEMENTS = ("paper", "torchvision")
DROPOUT_SCALINGS = ("inverted", "test_time")
# How, never what (lenet_jax/models/alexnet_ops.py): equal values and gradients.
CONV1_FORMS = ("strided", "space_to_depth")
POOL_GRADIENTS = ("select_and_scatter", "first_max")
LRN_DTYPES = ("float32", "compute")
DTYPES = {"float32": jnp.float32, "bfloat16": jnp.bfloat16}


def initialiser(init: str, layer: int, std: float | None):
  """(key, shape, fan_in) -> (kernel, bias) of layer `layer` (0: conv1 .. 7: fc8).

  'paper': N(0, 0.01) weights (section 5), biases `PAPER_BIASES`; 'caffe': bvlc_alexnet's
  train_val.prototxt fillers, N(0, 0.01), fc6 and fc7 0.005, biases 0.1 where the paper's
  are 1; 'he': N(0, 2 / fan_in), biases 0 (He et al. 2015); 'torchvision': PyTorch's
  default for Conv2d and Linear, weights and biases uniform in +-1/sqrt(fan_in).
  `std` (the config's `init_std`) replaces a Gaussian init's weight std for this layer."""
  def draw(key, shape, fan_in):
    towers, outputs = shape[0], shape[-1]
    if init == "torchvision":
      kernel_key, bias_key = jax.random.split(key)
      bound = fan_in ** -0.5
      return uniform(kernel_key, shape, bound), uniform(bias_key, (towers, outputs), bound)
    if init == "he":
      return gaussian(key, shape, (2.0 / fan_in) ** 0.5), jnp.zeros((towers, outputs))
    default_std = 0.005 if init == "caffe" and layer in (5, 6) else 0.01
    bias = PAPER_BIASES[layer] * (0.1 if init == "caffe" else 1.0)
    return (gaussian(key, shape, default_std if std is None else std),
            jnp.full((towers, outputs), bias, jnp.float32))
  return draw


def _max_pool(x, gradient="select_and_scatter", window=3):
  """Overlapping 3x3 stride-2 max pooling (section 3.4); window 2: non-overlapping."""
  if gradient == "first_max":
    return alexnet_ops.max_pool(x, window, 2)
  return nnx.max_pool(x, (window, window), (2, 2))


def adaptive_average_pool(x, size: int):
  """NHWC maps averaged into size x size bins, bin i over rows floor(i H / size) to
  ceil((i + 1) H / size), as PyTorch's AdaptiveAvgPool2d (torchvision's AlexNet)."""
  _, h, w, _ = x.shape
  if (h, w) == (size, size):
    return x
  rows = [(i * h // size, -(-(i + 1) * h // size)) for i in range(size)]
  cols = [(j * w // size, -(-(j + 1) * w // size)) for j in range(size)]
  return jnp.stack([jnp.stack([jnp.mean(x[:, r0:r1, c0:c1], axis=(1, 2)) for c0, c1 in cols],
                              axis=1) for r0, r1 in rows], axis=1)


def _dropout(x, key, train, slice_rows=None, *, rate: float, scaling: str):
  """Dropout with a mask drawn for the whole batch, so any sharding draws the same mask.

  'inverted': kept units scaled by 1 / (1 - rate) in training, nothing at test (PyTorch,
  Caffe); 'test_time': kept units unscaled in training and every unit times 1 - rate at
  test (the 2012 code's "hs" layers, src/layer.cu)."""
  if rate == 0:
    return x
  if not train or key is None:
    return x * (1.0 - rate) if scaling == "test_time" and not train else x
  keep = jax.random.bernoulli(key, 1.0 - rate, x.shape if slice_rows is None
                              else (slice_rows[1],) + x.shape[1:])
  if slice_rows is not None:
    keep = jax.lax.dynamic_slice_in_dim(keep, slice_rows[0], x.shape[0])
  kept = x / (1.0 - rate) if scaling == "inverted" else x
  return jnp.where(keep, kept, 0).astype(x.dtype)


def fc8_units(num_classes: int, towers: int) -> int:
  """fc8's units: the classes, rounded up to a multiple of the towers."""
  return -(-num_classes // towers) * towers


def kernels(paper_count: int, width: float, towers: int) -> int:
  """`width` x a kernel count, rounded to a whole number per tower."""
  per_tower = max(1, round(paper_count * width / towers))
  return per_tower * towers


def _out_side(h, size, stride, padding=(0, 0)):
  return (h + sum(padding) - size) // stride + 1


class AlexNet(nnx.Module):
  """AlexNet with every published variant's choices as arguments (see `arguments`)."""

  def __init__(self, *, input_shape, num_classes, towers, maps, width, fc_units,
               conv1_padding, dtype, grouped_conv, channel_multiple, conv1, pool_gradient,
               lrn_dtype, activation, norm, lrn_form, conv1_norm_input, conv2_rnorm,
               batchnorm_momentum, batchnorm_epsilon, pooling, adaptive_pool, dropout,
               dropout_placement, dropout_scaling, init, init_std, rngs: nnx.Rngs):
    c = input_shape[-1]
    t = towers
    std = lambda i: init_std[i] if init_std else None  # noqa: E731
    # channel_multiple: each convolution's input channels (and its kernel's) are
    # zero-padded in the step to a multiple of this, which changes no value or
    # parameter; only conv1's 3 channels are not already a multiple of 8, the
    # channel count that tensor-core convolutions want.
    conv = functools.partial(TowerConv, rngs=rngs, grouped_conv=grouped_conv,
                             channel_multiple=channel_multiple)
    k1, k2, k3, k4 = (kernels(n, width, t) for n in maps[:4])
    k5 = kernels(maps[4], 1.0, t)
    pad = lambda p: ((p, p), (p, p))  # noqa: E731
    self.conv1 = conv(t, c, k1, 11, 4, (tuple(conv1_padding),) * 2, False,
                      init=initialiser(init, 0, std(0)),
                      space_to_depth=conv1 == "space_to_depth")
    self.conv2 = conv(t, k1, k2, 5, 1, pad(2), True, init=initialiser(init, 1, std(1)))
    self.conv3 = conv(t, k2, k3, 3, 1, pad(1), False, init=initialiser(init, 2, std(2)))
    self.conv4 = conv(t, k3, k4, 3, 1, pad(1), True, init=initialiser(init, 3, std(3)))
    self.conv5 = conv(t, k4, k5, 3, 1, pad(1), True, init=initialiser(init, 4, std(4)))
    window = 3 if pooling == "overlapping" else 2
    h = _out_side(input_shape[0], 11, 4, conv1_padding)
    for _ in range(3):  # the three pools (convolutions 2-5 keep the size)
      h = _out_side(h, window, 2)
    h = adaptive_pool or h
    dense = functools.partial(TowerDense, rngs=rngs)
    self.fc6 = dense(t, h * h * k5, fc_units, init=initialiser(init, 5, std(5)))
    self.fc7 = dense(t, fc_units, fc_units, init=initialiser(init, 6, std(6)))
    # fc8's units are split over the towers; a class count they do not divide gets
    # padded units (ceil(classes / towers) a tower), whose outputs are dropped before
    # the softmax, so they are never trained and never predicted.
    self.fc8 = dense(t, fc_units, fc8_units(num_classes, t), init=initialiser(init, 7, std(7)))
    if norm == "batchnorm":  # where the paper normalises: conv1's and conv2's outputs
      bn = functools.partial(TowerBatchNorm, momentum=batchnorm_momentum,
                             epsilon=batchnorm_epsilon)
      self.bn1, self.bn2 = bn(t, k1), bn(t, k2)
    self.num_classes = num_classes
    self.towers = towers
    self.dtype = dtype
    self.norm = norm
    self.conv1_norm_input = conv1_norm_input
    self.conv2_rnorm = conv2_rnorm
    self.adaptive_pool = adaptive_pool
    self.dropout_placement = dropout_placement
    self.pool = functools.partial(_max_pool, gradient=pool_gradient, window=window)
    self.accumulate = None if lrn_dtype == "compute" else jnp.float32
    self.lrn_form = lrn_form
    self.act = ACTIVATIONS[activation]
    self.drop = functools.partial(_dropout, rate=float(dropout), scaling=dropout_scaling)

  def _lrn(self, y, tower: bool):
    form = LRN_FORMS[self.lrn_form]
    # Across the towers (Caffe's) the window spans every map; else it stays in a tower.
    groups = 1 if (form["across_towers"] or tower) else self.towers
    return lrn(y, groups=groups, k=form["k"], alpha=form["alpha"],
               accumulate_dtype=self.accumulate)

  def _normalized(self, layer: int, y, comm=None):
    """Convolution `layer`'s (1 or 2) linear outputs `y` through its activation and
    normalisation: the paper's LRN on the rectified maps (the 2012 code's conv1: on the
    linear maps, the ReLU after the pool), BatchNorm before the activation, or none."""
    tower = comm is not None
    act = self.act
    if self.norm == "batchnorm":
      bn = self.bn1 if layer == 1 else self.bn2
      return act(bn.tower(y, comm) if tower else bn(y))
    if self.norm == "none":
      return act(y)
    if layer == 1 and self.conv1_norm_input == "linear":
      # max pooling commutes with the ReLU (and every non-decreasing activation), so
      # normalise -> activate -> pool is the code's normalise -> pool -> ReLU
      return act(self._lrn(y, tower))
    y = self._lrn(act(y), tower)
    if layer == 2 and self.conv2_rnorm:
      y = within_map(y, size=RNORM_2012["size"], scale=RNORM_2012["scale"],
                     power=RNORM_2012["pow"], accumulate_dtype=self.accumulate)
    return y

  def _pool5(self, y):
    y = self.pool(y)
    return adaptive_average_pool(y, self.adaptive_pool) if self.adaptive_pool else y

  def stages(self):
    """(name, stage) for the summary tool; normalisation and pooling are inside the conv
    stages."""
    act = self.act
    bn = lambda i: (getattr(self, f"bn{i}"),) if self.norm == "batchnorm" else ()  # noqa: E731
    return [
        ("conv1", _Stage(self.conv1, lambda y: self.pool(self._normalized(1, y)), bn(1))),
        ("conv2", _Stage(self.conv2, lambda y: self.pool(self._normalized(2, y)), bn(2))),
        ("conv3", _Stage(self.conv3, act)),
        ("conv4", _Stage(self.conv4, act)),
        ("conv5", _Stage(self.conv5, lambda y: self._pool5(act(y)))),
        ("fc6", _Stage(self.fc6, act, flatten=True)),
        ("fc7", _Stage(self.fc7, act)),
        ("fc8", _Stage(self.fc8, lambda y: y[..., :self.num_classes])),
    ]

  def __call__(self, x, *, train: bool = False, rngs=None):
    act = self.act
    keys = jax.random.split(rngs, 2) if (train and rngs is not None) else (None, None)
    x = x.astype(self.dtype)
    x = self.pool(self._normalized(1, self.conv1(x)))
    x = self.pool(self._normalized(2, self.conv2(x)))
    x = act(self.conv3(x))
    x = act(self.conv4(x))
    x = self._pool5(act(self.conv5(x)))
    x = x.reshape(x.shape[0], -1)
    return self._classifier(x, self.fc6, self.fc7, self.fc8, keys,
                            lambda y, key: self.drop(y, key, train))

  def _classifier(self, x, fc6, fc7, fc8, keys, drop, exchange=lambda y: y):
    """fc6, fc7 and fc8 on conv5's flattened maps `x`, with dropout where
    `dropout_placement` puts it; `exchange` gathers the towers' outputs (identity on
    one device), so every dropout sees the whole layer, as on one device."""
    act = self.act
    if self.dropout_placement == "torchvision":
      x = exchange(act(fc6(drop(x, keys[0]))))
      x = exchange(act(fc7(drop(x, keys[1]))))
    else:  # the paper's: the hidden layers' outputs
      x = drop(exchange(act(fc6(x))), keys[0])
      x = drop(exchange(act(fc7(x))), keys[1])
    return exchange(fc8(x)).astype(jnp.float32)[..., :self.num_classes]

  def tower_forward(self, x, *, comm, train: bool = False, rngs=None):
    """One tower's computation, run under shard_map or pmap, one tower a device.

    Parameters hold this device's tower only (leading axis of size 1); `x` is
    this device's share of the batch. `comm` (see `lenet_jax.parallel`) supplies
    the collectives: `gather_towers(y)` stacks every tower's `y` in tower order,
    `batch_rows(n)` gives (offset, global batch) of this device's rows, so
    dropout masks are drawn for the global batch and sliced: any mesh draws the
    masks the single-device network draws; and `mean_over_data` averages over the
    data shards (BatchNorm's batch statistics).
    """
    act = self.act

    def gather(y):  # every tower's maps, in tower order along channels
      return jnp.concatenate(list(comm.gather_towers(y)), axis=-1)

    rows = comm.batch_rows(x.shape[0])
    keys = jax.random.split(rngs, 2) if (train and rngs is not None) else (None, None)
    x = x.astype(self.dtype)
    x = self.pool(self._normalized(1, self.conv1.tower(x), comm))
    x = self.pool(self._normalized(2, self.conv2.tower(x), comm))
    x = act(self.conv3.tower(gather(x)))
    x = act(self.conv4.tower(x))
    x = self._pool5(act(self.conv5.tower(x)))
    x = gather(x)  # [n, 6, 6, 256], channels in tower order like the single-device net
    x = x.reshape(x.shape[0], -1)
    return self._classifier(x, self.fc6.tower, self.fc7.tower, self.fc8.tower, keys,
                            lambda y, key: self.drop(y, key, train, rows), gather)


class _Stage:
  """Adapts a layer plus what follows it to the summary tool's stage protocol; `also`:
  layers with parameters inside the stage (BatchNorm), counted with it."""

  def __init__(self, layer, after, also=(), flatten=False):
    self.layer, self.after, self.flatten = layer, after, flatten
    self.layers = (layer,) + tuple(also)

  def __call__(self, x):
    if self.flatten:
      x = x.reshape(x.shape[0], -1)
    return self.after(self.layer(x))

  def connections(self, in_shape, out_shape):
    if self.flatten:
      in_shape = (int(jnp.prod(jnp.array(in_shape))),)
    layer_out = abstract.output_shape(self.layer, lambda layer, x: layer(x),
                                      jax.ShapeDtypeStruct((1,) + tuple(in_shape),
                                                           jnp.float32)).shape[1:]
    return self.layer.connections(in_shape, layer_out)


def _check_rate(key, value, expected="must be a number in [0, 1)") -> None:
  if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
    raise ConfigError(key, value, expected)


def _validate(model_config, num_classes: int) -> None:
  del num_classes  # any count: fc8 is padded to a multiple of the towers
  c = model_config
  check_choice("model.towers", c.towers, (1, 2))
  check_choice("model.dtype", c.dtype, tuple(DTYPES))
  check_choice("model.grouped_conv", c.grouped_conv, ("split", "feature_group"))
  check_choice("model.init", c.init, INITS)
  check_int("model.channel_multiple", c.channel_multiple, minimum=0,
            expected="must be an integer >= 1, or 0 for auto")
  check_choice("model.conv1", c.conv1, ("auto",) + CONV1_FORMS)
  check_choice("model.pool_gradient", c.pool_gradient, POOL_GRADIENTS)
  check_choice("model.lrn_dtype", c.lrn_dtype, ("auto",) + LRN_DTYPES)
  check_choice("model.dropout_placement", c.dropout_placement, DROPOUT_PLACEMENTS)
  check_choice("model.dropout_scaling", c.dropout_scaling, DROPOUT_SCALINGS)
  check_choice("model.activation", c.activation, tuple(ACTIVATIONS))
  check_choice("model.norm", c.norm, NORMS)
  check_choice("model.lrn", c.lrn, tuple(LRN_FORMS))
  check_choice("model.conv1_norm_input", c.conv1_norm_input, CONV1_NORM_INPUTS)
  if c.norm != "lrn" and (c.conv2_rnorm or c.conv1_norm_input != "relu"):
    raise ConfigError("model.norm", c.norm, "conv2_rnorm and conv1_norm_input='linear' place "
                      "the 2012 code's response normalisations: use model.norm='lrn'")
  if c.conv1_norm_input == "linear" and c.activation not in NON_DECREASING:
    # the code's ReLU after pool1 is taken before it here, the same only for these
    raise ConfigError("model.activation", c.activation, "conv1_norm_input='linear' takes "
                      f"the activation after pool1: one of {', '.join(NON_DECREASING)}")
  check_choice("model.pooling", c.pooling, POOLINGS)
  _check_rate("model.dropout", c.dropout, "must be a rate in [0, 1): 0 turns it off")
  _check_rate("model.batchnorm_momentum", c.batchnorm_momentum)
  if not isinstance(c.batchnorm_epsilon, (int, float)) or not c.batchnorm_epsilon > 0:
    raise ConfigError("model.batchnorm_epsilon", c.batchnorm_epsilon, "must be a number > 0")
  width = c.width
  if isinstance(width, bool) or not isinstance(width, (int, float)) or width <= 0:
    raise ConfigError("model.width", width, "must be a positive multiplier of the paper's "
                      "kernel counts (0.5: the paper's one-GPU net with towers=1)")
  maps = tuple(c.maps)
  if len(maps) != 5 or not all(isinstance(m, int) and not isinstance(m, bool) and m >= c.towers
                               for m in maps):
    raise ConfigError("model.maps", maps, "five kernel counts, conv1 to conv5, each at least "
                      "one a tower")
  padding = tuple(c.conv1_padding)
  if len(padding) != 2 or not all(isinstance(p, int) and p >= 0 for p in padding):
    raise ConfigError("model.conv1_padding", padding, "(before, after): two integers >= 0")
  check_int("model.adaptive_pool", c.adaptive_pool, minimum=0,
            expected="must be an integer >= 1 (the side conv5's pooled maps are averaged to), "
            "or 0 for none")
  init_std = tuple(c.init_std)
  if init_std and (len(init_std) != len(LAYERS) or c.init not in ("paper", "caffe") or not all(
      isinstance(s, (int, float)) and s > 0 for s in init_std)):
    raise ConfigError("model.init_std", init_std, "one positive std a layer, conv1 to fc8, for "
                      "a Gaussian init ('paper' or 'caffe'), or () for the init's own")
  check_int("model.fc_units", c.fc_units)
  if c.fc_units % c.towers:
    raise ConfigError("model.fc_units", c.fc_units,
                      f"must split evenly over the {c.towers} towers")


def _resolve(model_config) -> dict:
  """The 'auto' choices: on a GPU with bfloat16, conv inputs padded to multiples of 8
  channels and the LRN summed in bfloat16; on a GPU, conv1 as a space-to-depth
  convolution (each measured faster there: experiments/benchmarks); elsewhere none."""
  gpu = jax.default_backend() == "gpu"
  bf16_gpu = gpu and model_config.dtype == "bfloat16"
  channel_multiple = model_config.channel_multiple or (8 if bf16_gpu else 1)
  conv1 = model_config.conv1
  if conv1 == "auto":
    conv1 = "space_to_depth" if gpu else "strided"
  lrn_dtype = model_config.lrn_dtype
  if lrn_dtype == "auto":
    lrn_dtype = "compute" if bf16_gpu else "float32"
  return {"channel_multiple": channel_multiple, "conv1": conv1, "lrn_dtype": lrn_dtype}


def arguments(model_config, knobs, input_shape, num_classes) -> dict:
  """AlexNet's constructor arguments (all but rngs) from its config section and resolved
  `knobs`."""
  c = model_config
  return dict(
      input_shape=tuple(input_shape), num_classes=num_classes, towers=c.towers,
      maps=tuple(c.maps), width=c.width, fc_units=c.fc_units,
      conv1_padding=tuple(c.conv1_padding), dtype=DTYPES[c.dtype], grouped_conv=c.grouped_conv,
      channel_multiple=knobs["channel_multiple"], conv1=knobs["conv1"],
      pool_gradient=c.pool_gradient, lrn_dtype=knobs["lrn_dtype"], activation=c.activation,
      norm=c.norm, lrn_form=c.lrn, conv1_norm_input=c.conv1_norm_input,
      conv2_rnorm=c.conv2_rnorm, batchnorm_momentum=c.batchnorm_momentum,
      batchnorm_epsilon=c.batchnorm_epsilon, pooling=c.pooling,
      adaptive_pool=c.adaptive_pool, dropout=c.dropout,
      dropout_placement=c.dropout_placement, dropout_scaling=c.dropout_scaling, init=c.init,
      init_std=tuple(c.init_std))


def _build(model_config, knobs, input_shape, num_classes, rngs):
  return AlexNet(**arguments(model_config, knobs, input_shape, num_classes), rngs=rngs)


def _check(config) -> None:
  """Caffe's LRN windows span both towers' maps, which one tower a device does not see."""
  if ("parallel" in config and config.parallel.model > 1 and config.model.norm == "lrn"
      and LRN_FORMS[config.model.lrn]["across_towers"]):
    raise ConfigError("model.lrn", config.model.lrn, "Caffe's LRN windows span both towers' "
                      "maps, which one tower a device does not see; use parallel.model=1")


# Keys AlexNet's config gained after runs were recorded, with the values used before.
LEGACY = {"model.fc_units": 4096, "model.norm": "lrn", "model.maps": (96, 256, 384, 384, 256),
          "model.conv1_padding": (0, 0), "model.conv1_norm_input": "relu",
          "model.conv2_rnorm": False, "model.adaptive_pool": 0,
          "model.dropout_scaling": "inverted", "model.init_std": (),
          "model.batchnorm_momentum": 0.9, "model.batchnorm_epsilon": 1e-5}


def _upgrade(flat: dict) -> dict:
  """model.lrn='none' (before model.norm) is model.norm='none' now."""
  if flat.get("model.lrn") == "none":
    flat = dict(flat, **{"model.lrn": "paper", "model.norm": "none"})
  return flat


registry.register(registry.Family("alexnet", build=_build, validate=_validate, resolve=_resolve,
                                  check=_check, towers=lambda model_config: model_config.towers,
                                  legacy=LEGACY, upgrade=_upgrade))

"""AlexNet (Krizhevsky, Sutskever, Hinton 2012, "ImageNet classification with deep
convolutional neural networks", section 3 and figure 2), with its two-GPU split.

Every layer's parameters carry a leading `towers` axis: tower t holds the
filters GPU t held (conv1's 48 of 96, conv2's 128 of 256, ...). The same
parameters run two ways:

- `__call__`: one device. Tower-local layers (conv2, conv4, conv5) are grouped
  convolutions over the towers' concatenated maps; conv3 and the FC layers read
  every map. LRN windows stay inside a tower.
- `tower_forward`: the per-tower computation, run under `jax.shard_map` or
  `jax.pmap` with one tower per device of a mesh axis. Where the GPUs exchanged
  activations (into conv3 and each FC layer) an `all_gather` over that axis
  collects both towers' maps.

towers=1 is the ungrouped single-GPU network.
"""

import functools

import jax
import jax.numpy as jnp
from flax import nnx

from lenet_jax.common.errors import ConfigError, check_choice, check_int
from lenet_jax.models import abstract, alexnet_ops, registry, sampling
from lenet_jax.models.activations import ACTIVATIONS
from lenet_jax.models.lrn import CAFFE, PAPER, lrn

DROPOUT = 0.5
INITS = ("paper", "caffe", "he")
# The paper's ablations (sections 3.1-3.4, 4.2), as knobs: `activation` (any of
# LeNet-5's; the paper's is relu), `lrn` ('paper' or 'none'), `pooling`
# ('overlapping' 3x3 stride 2, or 'nonoverlapping' 2x2 stride 2: the same output
# sizes), `dropout` (the rate; 0 turns it off) and `width` (a multiplier on the
# kernel counts of conv1-conv4; conv5 and the FC layers keep theirs).
# 'caffe': bvlc_alexnet's (k=1, alpha/n, windows across the towers), for its weights.
LRNS = ("paper", "none", "caffe")
POOLINGS = ("overlapping", "nonoverlapping")
LRN_FORMS = {"paper": PAPER, "caffe": CAFFE}
# Section 4.2: dropout "in the first two fully-connected layers": fc6's and fc7's
# outputs (after the ReLU) are dropped, as in Caffe's bvlc_alexnet ('paper').
# torchvision drops the inputs of fc6 and fc7 instead ('torchvision').
DROPOUT_PLACEMENTS = ("paper", "torchvision")
# How, never what (lenet_jax/models/alexnet_ops.py): equal values and gradients.
CONV1_FORMS = ("strided", "space_to_depth")
POOL_GRADIENTS = ("select_and_scatter", "first_max")
LRN_DTYPES = ("float32", "compute")
DTYPES = {"float32": jnp.float32, "bfloat16": jnp.bfloat16}


def _init_weights(key, shape, fan_in, init, caffe_std=0.01):
  """'paper': N(0, 0.01) (section 5); 'caffe': bvlc_alexnet's train_val.prototxt
  Gaussian fillers, std 0.01, 0.005 for fc6 and fc7 (`caffe_std`); 'he':
  N(0, 2 / fan_in), He et al. 2015."""
  std = {"paper": 0.01, "caffe": caffe_std}.get(init, (2.0 / fan_in) ** 0.5)
  return std * sampling.normal(key, shape)


def _init_bias(init, paper_value):
  """'paper': 1 in conv2, conv4, conv5, fc6, fc7 and 0 elsewhere (section 5); 'caffe':
  0.1 where the paper has 1 (bvlc_alexnet's constant fillers); 'he': 0."""
  return {"paper": paper_value, "caffe": 0.1 * paper_value}.get(init, 0.0)


class TowerConv(nnx.Module):
  """A convolution split over towers; `local` ones read only their own tower's maps."""

  def __init__(self, towers, in_features, out_features, kernel, stride, padding, bias_init,
               local, *, rngs, grouped_conv="split", init="paper", channel_multiple=1,
               space_to_depth=False):
    in_per = in_features // towers if local else in_features
    shape = (towers, kernel, kernel, in_per, out_features // towers)
    self.kernel = nnx.Param(_init_weights(rngs.params(), shape, kernel * kernel * in_per, init))
    self.bias = nnx.Param(jnp.full((towers, out_features // towers),
                                   _init_bias(init, bias_init), jnp.float32))
    self.towers, self.stride, self.padding, self.local = towers, stride, padding, local
    self.grouped_conv = grouped_conv
    self.channel_multiple = channel_multiple
    self.space_to_depth = space_to_depth

  def _conv(self, x, kernel, groups=1):
    if self.space_to_depth and groups == 1 and self.padding == 0:
      return alexnet_ops.space_to_depth_conv(x, kernel, self.stride)
    extra = -x.shape[-1] % self.channel_multiple if groups == 1 else 0
    if extra:  # zero channels in the input and the kernel: the same sums, aligned shapes
      x = jnp.pad(x, ((0, 0), (0, 0), (0, 0), (0, extra)))
      kernel = jnp.pad(kernel, ((0, 0), (0, 0), (0, extra), (0, 0)))
    return jax.lax.conv_general_dilated(
        x, kernel.astype(x.dtype), (self.stride, self.stride),
        [(self.padding, self.padding)] * 2, dimension_numbers=("NHWC", "HWIO", "NHWC"),
        feature_group_count=groups)

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

  def __init__(self, towers, in_features, out_features, bias_init, *, rngs, init="paper",
               caffe_std=0.01):
    shape = (towers, in_features, out_features // towers)
    self.kernel = nnx.Param(_init_weights(rngs.params(), shape, in_features, init, caffe_std))
    self.bias = nnx.Param(jnp.full((towers, out_features // towers),
                                   _init_bias(init, bias_init), jnp.float32))

  def __call__(self, x):
    kernel = jnp.concatenate(list(self.kernel[...]), axis=-1)
    return x @ kernel.astype(x.dtype) + self.bias[...].reshape(1, -1).astype(x.dtype)

  def tower(self, x):
    return x @ self.kernel[0].astype(x.dtype) + self.bias[0].reshape(1, -1).astype(x.dtype)

  def connections(self, in_shape, out_shape):
    return (in_shape[-1] + 1) * out_shape[-1]


def _max_pool(x, gradient="select_and_scatter", window=3):
  """Overlapping 3x3 stride-2 max pooling (section 3.4); window 2: non-overlapping."""
  if gradient == "first_max":
    return alexnet_ops.max_pool(x, window, 2)
  return nnx.max_pool(x, (window, window), (2, 2))


def _dropout(x, key, train, slice_rows=None, rate=DROPOUT):
  """Dropout with a mask drawn for the whole batch, so any sharding draws the same mask."""
  if not train or key is None or rate == 0:
    return x
  keep = jax.random.bernoulli(key, 1.0 - rate, x.shape if slice_rows is None
                              else (slice_rows[1],) + x.shape[1:])
  if slice_rows is not None:
    keep = jax.lax.dynamic_slice_in_dim(keep, slice_rows[0], x.shape[0])
  return jnp.where(keep, x / (1.0 - rate), 0).astype(x.dtype)


def fc8_units(num_classes: int, towers: int) -> int:
  """fc8's units: the classes, rounded up to a multiple of the towers."""
  return -(-num_classes // towers) * towers


def kernels(paper_count: int, width: float, towers: int) -> int:
  """`width` x the paper's kernel count, rounded to a whole number per tower."""
  per_tower = max(1, round(paper_count * width / towers))
  return per_tower * towers


class AlexNet(nnx.Module):
  """AlexNet with paper widths, LRN, overlapping pooling, dropout and the paper's init."""

  def __init__(self, *, input_shape=(227, 227, 3), num_classes=1000, towers=2,
               dtype=jnp.float32, grouped_conv="split", init="paper", channel_multiple=1,
               conv1="strided", pool_gradient="select_and_scatter", lrn_dtype="float32",
               dropout_placement="paper", activation="relu", lrn_kind="paper",
               pooling="overlapping", dropout=DROPOUT, width=1.0, fc_units=4096,
               rngs: nnx.Rngs):
    c = input_shape[-1]
    t = towers
    # Biases of 1 in conv2, conv4, conv5 and the hidden FC layers, 0 elsewhere (section 5).
    # channel_multiple: each convolution's input channels (and its kernel's) are
    # zero-padded in the step to a multiple of this, which changes no value or
    # parameter; only conv1's 3 channels are not already a multiple of 8, the
    # channel count that tensor-core convolutions want.
    conv = functools.partial(TowerConv, rngs=rngs, grouped_conv=grouped_conv, init=init,
                             channel_multiple=channel_multiple)
    k1, k2, k3, k4 = (kernels(n, width, t) for n in (96, 256, 384, 384))
    self.conv1 = conv(t, c, k1, 11, 4, 0, 0.0, False, space_to_depth=conv1 == "space_to_depth")
    self.conv2 = conv(t, k1, k2, 5, 1, 2, 1.0, True)
    self.conv3 = conv(t, k2, k3, 3, 1, 1, 0.0, False)
    self.conv4 = conv(t, k3, k4, 3, 1, 1, 1.0, True)
    self.conv5 = conv(t, k4, 256, 3, 1, 1, 1.0, True)
    h = input_shape[0]
    for size, stride, pad in ((11, 4, 0), (3, 2, 0), (5, 1, 2), (3, 2, 0), (3, 1, 1), (3, 1, 1),
                              (3, 1, 1), (3, 2, 0)):
      h = (h + 2 * pad - size) // stride + 1
    self.fc6 = TowerDense(t, h * h * 256, fc_units, 1.0, rngs=rngs, init=init, caffe_std=0.005)
    self.fc7 = TowerDense(t, fc_units, fc_units, 1.0, rngs=rngs, init=init, caffe_std=0.005)
    # fc8's units are split over the towers; a class count they do not divide gets
    # padded units (ceil(classes / towers) a tower), whose outputs are dropped before
    # the softmax, so they are never trained and never predicted.
    self.fc8 = TowerDense(t, fc_units, fc8_units(num_classes, t), 0.0, rngs=rngs, init=init)
    self.num_classes = num_classes
    self.towers = towers
    self.dtype = dtype
    self.dropout_placement = dropout_placement
    self.pool = functools.partial(_max_pool, gradient=pool_gradient,
                                  window=3 if pooling == "overlapping" else 2)
    accumulate = None if lrn_dtype == "compute" else jnp.float32
    if lrn_kind == "none":
      self.norm = lambda y, groups=1: y
    else:
      form = LRN_FORMS[lrn_kind]
      norm = functools.partial(lrn, k=form["k"], alpha=form["alpha"], accumulate_dtype=accumulate)
      # Across the towers, the groups argument (the tower count) is overridden to 1.
      self.norm = ((lambda y, groups=1: norm(y, groups=1)) if form["across_towers"] else norm)
    self.act = ACTIVATIONS[activation]
    self.dropout = float(dropout)

  def stages(self):
    """(name, stage) for the summary tool; pooling and LRN are inside the conv stages."""
    act = self.act
    t = self.towers
    return [
        ("conv1", _Stage(self.conv1, lambda y: self.pool(self.norm(act(y), groups=t)))),
        ("conv2", _Stage(self.conv2, lambda y: self.pool(self.norm(act(y), groups=t)))),
        ("conv3", _Stage(self.conv3, act)),
        ("conv4", _Stage(self.conv4, act)),
        ("conv5", _Stage(self.conv5, lambda y: self.pool(act(y)))),
        ("fc6", _Stage(self.fc6, act, flatten=True)),
        ("fc7", _Stage(self.fc7, act)),
        ("fc8", _Stage(self.fc8, lambda y: y[..., :self.num_classes])),
    ]

  def __call__(self, x, *, train: bool = False, rngs=None):
    act = self.act
    t = self.towers
    keys = jax.random.split(rngs, 2) if (train and rngs is not None) else (None, None)
    x = x.astype(self.dtype)
    x = self.pool(self.norm(act(self.conv1(x)), groups=t))
    x = self.pool(self.norm(act(self.conv2(x)), groups=t))
    x = act(self.conv3(x))
    x = act(self.conv4(x))
    x = self.pool(act(self.conv5(x)))
    x = x.reshape(x.shape[0], -1)
    return self._classifier(x, self.fc6, self.fc7, self.fc8, keys,
                            lambda y, key: _dropout(y, key, train, rate=self.dropout))

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
    and `batch_rows(n)` gives (offset, global batch) of this device's rows, so
    dropout masks are drawn for the global batch and sliced: any mesh draws the
    masks the single-device network draws.
    """
    act = self.act

    def gather(y):  # every tower's maps, in tower order along channels
      return jnp.concatenate(list(comm.gather_towers(y)), axis=-1)

    rows = comm.batch_rows(x.shape[0])
    keys = jax.random.split(rngs, 2) if (train and rngs is not None) else (None, None)
    x = x.astype(self.dtype)
    x = self.pool(self.norm(act(self.conv1.tower(x))))
    x = self.pool(self.norm(act(self.conv2.tower(x))))
    x = act(self.conv3.tower(gather(x)))
    x = act(self.conv4.tower(x))
    x = self.pool(act(self.conv5.tower(x)))
    x = gather(x)  # [n, 6, 6, 256], channels in tower order like the single-device net
    x = x.reshape(x.shape[0], -1)
    return self._classifier(x, self.fc6.tower, self.fc7.tower, self.fc8.tower, keys,
                            lambda y, key: _dropout(y, key, train, rows, self.dropout), gather)


class _Stage:
  """Adapts a layer plus what follows it to the summary tool's stage protocol."""

  def __init__(self, layer, after, flatten=False):
    self.layer, self.after, self.flatten = layer, after, flatten

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


def _validate(model_config, num_classes: int) -> None:
  del num_classes  # any count: fc8 is padded to a multiple of the towers
  check_choice("model.towers", model_config.towers, (1, 2))
  check_choice("model.dtype", model_config.dtype, tuple(DTYPES))
  check_choice("model.grouped_conv", model_config.grouped_conv, ("split", "feature_group"))
  check_choice("model.init", model_config.init, INITS)
  check_int("model.channel_multiple", model_config.channel_multiple, minimum=0,
            expected="must be an integer >= 1, or 0 for auto")
  check_choice("model.conv1", model_config.conv1, ("auto",) + CONV1_FORMS)
  check_choice("model.pool_gradient", model_config.pool_gradient, POOL_GRADIENTS)
  check_choice("model.lrn_dtype", model_config.lrn_dtype, ("auto",) + LRN_DTYPES)
  check_choice("model.dropout_placement", model_config.dropout_placement, DROPOUT_PLACEMENTS)
  check_choice("model.activation", model_config.activation, tuple(ACTIVATIONS))
  check_choice("model.lrn", model_config.lrn, LRNS)
  check_choice("model.pooling", model_config.pooling, POOLINGS)
  dropout = model_config.dropout
  if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0 <= dropout < 1:
    raise ConfigError("model.dropout", dropout, "must be a rate in [0, 1): 0 turns it off")
  width = model_config.width
  if isinstance(width, bool) or not isinstance(width, (int, float)) or width <= 0:
    raise ConfigError("model.width", width, "must be a positive multiplier of the paper's "
                      "kernel counts (0.5: the paper's one-GPU net with towers=1)")
  check_int("model.fc_units", model_config.fc_units)
  if model_config.fc_units % model_config.towers:
    raise ConfigError("model.fc_units", model_config.fc_units,
                      f"must split evenly over the {model_config.towers} towers")


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


def _build(model_config, knobs, input_shape, num_classes, rngs):
  return AlexNet(
      input_shape=input_shape, num_classes=num_classes, towers=model_config.towers,
      dtype=DTYPES[model_config.dtype], grouped_conv=model_config.grouped_conv,
      init=model_config.init, channel_multiple=knobs["channel_multiple"], conv1=knobs["conv1"],
      pool_gradient=model_config.pool_gradient, lrn_dtype=knobs["lrn_dtype"],
      dropout_placement=model_config.dropout_placement, activation=model_config.activation,
      lrn_kind=model_config.lrn, pooling=model_config.pooling, dropout=model_config.dropout,
      width=model_config.width, fc_units=model_config.fc_units, rngs=rngs)


def _check(config) -> None:
  """Caffe's LRN windows span both towers' maps, which one tower a device does not see."""
  if "parallel" in config and config.parallel.model > 1 and config.model.lrn == "caffe":
    raise ConfigError("model.lrn", "caffe", "Caffe's LRN windows span both towers' maps, "
                      "which one tower a device does not see; use parallel.model=1")


registry.register(registry.Family("alexnet", build=_build, validate=_validate, resolve=_resolve,
                                  check=_check, towers=lambda model_config: model_config.towers,
                                  legacy={"model.fc_units": 4096}))

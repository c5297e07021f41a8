"""lenet_jax's AlexNet variables as a PyTorch state_dict ({key: array}), and back.

Ours against PyTorch's (torch.nn.Conv2d, Linear, BatchNorm2d):

- A convolution's kernel is (towers, kh, kw, in, out / towers) here, (out, in, kh, kw)
  (OIHW) in PyTorch; a Linear's weight is (out, in), ours (towers, in, out / towers).
  A layer's towers are one PyTorch layer whose outputs are tower 0's, then tower 1's.
  The tower-local convolutions of a two-tower network (conv2, conv4, conv5) are PyTorch
  `groups=2` convolutions, whose weight holds each group's inputs only: conv2's is
  (256, 48, 5, 5), as Caffe's grouped bvlc_alexnet has it.
- fc6 reads pool5's maps flattened in (C, H, W) order in PyTorch (torch.flatten of NCHW)
  and in (H, W, C) order here: its weight's columns are permuted.
- fc8 has one output per class: the units a class count the towers do not divide adds
  here (never used) are dropped, and come back as zeros.
- BatchNorm (model.norm='batchnorm'): `scale`, `bias` and the running `mean` and `var`
  are BatchNorm2d's `weight`, `bias`, `running_mean` and `running_var`; in evaluation both
  compute (x - mean) / sqrt(var + eps) * weight + bias. `num_batches_tracked` is not kept.

Keys: a network torchvision's `nn.Sequential` describes (one tower, no normalisation
layer: configs/alexnet_torchvision.py's, at any widths) gets torchvision's
(`features.0.weight` ... `classifier.6.bias`); every other gets `conv1.weight` ...
`fc8.bias` (`bn1.weight` ...). Reading takes either naming.

Both directions work on flat dicts keyed by our variable names ('conv1.kernel',
'bn1.mean'); the model is never involved.
"""

import math

import numpy as np

from lenet_jax.common.errors import UserError

FAMILY = "alexnet"  # the model family (config.model.name) whose variables this layout names
CONVS = ("conv1", "conv2", "conv3", "conv4", "conv5")
DENSES = ("fc6", "fc7", "fc8")
# torchvision/models/alexnet.py's module indices (experiments/alexnet/deviations/caffe_torchvision.md)
TORCHVISION = {"conv1": "features.0", "conv2": "features.3", "conv3": "features.6",
               "conv4": "features.8", "conv5": "features.10", "fc6": "classifier.1",
               "fc7": "classifier.4", "fc8": "classifier.6"}
_FROM_TORCHVISION = {v: k for k, v in TORCHVISION.items()}
PARAMETER = {"kernel": "weight", "bias": "bias"}
BATCHNORM = {"scale": "weight", "bias": "bias", "mean": "running_mean", "var": "running_var"}
_IGNORED = ("num_batches_tracked",)  # BatchNorm2d's count of batches seen


def torchvision_keys(names) -> bool:
  """Whether a network with these variables (flat names -> arrays or shapes) takes
  torchvision's keys: one tower and no normalisation layer."""
  return _towers(names) == 1 and not any(n.startswith("bn") for n in names)


def _towers(variables) -> int:
  return variables["conv1.kernel"].shape[0]


def _key(name: str, torchvision: bool) -> str:
  """The PyTorch key of our variable `name` ('conv2.kernel' -> 'conv2.weight' or
  'features.3.weight')."""
  layer, kind = name.split(".")
  if layer.startswith("bn"):
    return f"{layer}.{BATCHNORM[kind]}"
  return f"{TORCHVISION[layer] if torchvision else layer}.{PARAMETER[kind]}"


def _our_name(key: str) -> str | None:
  """Our variable name for a PyTorch key of either naming; None for a key we do not keep."""
  module, _, kind = key.rpartition(".")
  layer = _FROM_TORCHVISION.get(module, module)
  table = BATCHNORM if layer.startswith("bn") else PARAMETER
  ours = {v: k for k, v in table.items()}
  if kind in _IGNORED or kind not in ours:
    return None
  return f"{layer}.{ours[kind]}"


def _order(name: str) -> tuple:
  """Our variables in the network's order, each layer's weights first."""
  layer, kind = name.split(".")
  layers = ("conv1", "bn1", "conv2", "bn2") + CONVS[2:] + DENSES
  return layers.index(layer), ("kernel", "scale", "bias", "mean", "var").index(kind)


def _conv5_maps(variables) -> int:
  kernel = variables["conv5.kernel"]
  return kernel.shape[0] * kernel.shape[-1]


def _pytorch_shape(name: str, shape: tuple, classes: int) -> tuple:
  """The PyTorch shape of our variable `name` of shape `shape`."""
  layer, kind = name.split(".")
  if layer.startswith("bn") or kind == "bias":
    return (classes,) if layer == "fc8" else (shape[0] * shape[1],)
  if layer in CONVS:
    towers, kh, kw, inputs, outputs = shape
    return (towers * outputs, inputs, kh, kw)
  towers, inputs, outputs = shape
  return (classes if layer == "fc8" else towers * outputs, inputs)


def _hwc_to_chw(weight, maps: int):
  """fc6's (out, in) weight, its inputs from our (H, W, C) flatten to PyTorch's (C, H, W)."""
  out, inputs = weight.shape
  side = math.isqrt(inputs // maps)
  return weight.reshape(out, side, side, maps).transpose(0, 3, 1, 2).reshape(out, inputs)


def _chw_to_hwc(weight, maps: int):
  out, inputs = weight.shape
  side = math.isqrt(inputs // maps)
  return weight.reshape(out, maps, side, side).transpose(0, 2, 3, 1).reshape(out, inputs)


def _to_pytorch(name: str, value, variables, classes: int):
  layer, kind = name.split(".")
  if layer.startswith("bn") or kind == "bias":
    return value.reshape(-1)[:classes] if layer == "fc8" else value.reshape(-1)
  if layer in CONVS:  # (towers, kh, kw, in, out) -> (towers * out, in, kh, kw)
    towers, kh, kw, inputs, outputs = value.shape
    return value.transpose(0, 4, 3, 1, 2).reshape(towers * outputs, inputs, kh, kw)
  towers, inputs, outputs = value.shape  # (towers, in, out) -> (towers * out, in)
  weight = value.transpose(0, 2, 1).reshape(towers * outputs, inputs)
  if layer == "fc6":
    weight = _hwc_to_chw(weight, _conv5_maps(variables))
  return weight[:classes] if layer == "fc8" else weight


def _from_pytorch(name: str, value, shape: tuple, maps: int):
  """PyTorch's `value` as our variable `name` of shape `shape` (fc8 padded to it)."""
  layer, kind = name.split(".")
  towers = shape[0]
  if layer == "fc8":  # the units a class count the towers do not divide adds, as zeros
    extra = towers * shape[-1] - value.shape[0]
    value = np.pad(value, [(0, extra)] + [(0, 0)] * (value.ndim - 1))
  if layer.startswith("bn") or kind == "bias":
    return value.reshape(shape)
  if layer in CONVS:
    _, kh, kw, inputs, outputs = shape
    return value.reshape(towers, outputs, inputs, kh, kw).transpose(0, 3, 4, 2, 1)
  if layer == "fc6":
    value = _chw_to_hwc(value, maps)
  _, inputs, outputs = shape
  return value.reshape(towers, outputs, inputs).transpose(0, 2, 1)


def dropout_factors(model_config) -> dict:
  """{variable: factor} that carries a network's test-time dropout scaling over to
  PyTorch's convention (nn.Dropout scales kept units in training and is the identity at
  test). With `model.dropout_scaling='test_time'` the layers that read dropped units see
  them times 1 - rate at test; their kernels take that factor on export and give it back
  on import (exact for the rate 0.5, a power of two). {} for inverted dropout."""
  if model_config.dropout_scaling != "test_time" or not model_config.dropout:
    return {}
  readers = ("fc7", "fc8") if model_config.dropout_placement == "paper" else ("fc6", "fc7")
  return {f"{layer}.kernel": 1.0 - model_config.dropout for layer in readers}


def state_dict(variables: dict, classes: int) -> dict:
  """{PyTorch key: array} of our AlexNet `variables` ({'conv1.kernel': array, ...,
  'bn1.mean': array}) with `classes` outputs."""
  torchvision = torchvision_keys(variables)
  out = {}
  for name, value in variables.items():
    if name.split(".")[0] not in TORCHVISION and not name.startswith("bn"):
      raise UserError(f"the network has a variable {name}, which PyTorch's AlexNet layout "
                      "does not name; only AlexNet runs are exported")
    out[_key(name, torchvision)] = np.ascontiguousarray(
        _to_pytorch(name, np.asarray(value), variables, classes))
  return out


def classes(tensors: dict) -> int | None:
  """fc8's outputs in a PyTorch AlexNet state_dict (None when it has no fc8)."""
  for key, value in tensors.items():
    if _our_name(key) == "fc8.kernel" and np.ndim(value) == 2:
      return value.shape[0]
  return None


def _shown(shape) -> str:
  return "x".join(map(str, shape))


def variables_from(tensors: dict, like: dict, classes: int, source: str) -> dict:
  """Our variables ({'conv1.kernel': array, ...}, the names, shapes and dtypes of `like`)
  from a PyTorch state_dict `tensors` of either naming; one UserError naming the key
  (`source`: the file, for the message) when one is missing, has another shape, or has
  no place in the network."""
  torchvision = torchvision_keys(like)
  found, unplaced = {}, []
  for key, value in tensors.items():
    name = _our_name(key)
    if name in found:
      raise UserError(f"{source} holds {found[name][0]} and {key}, two names of one "
                      "parameter; keep one")
    if name in like:
      found[name] = (key, value)
    elif name is not None or key.rpartition(".")[2] not in _IGNORED:
      unplaced.append(key)
  unplaced.sort()
  if unplaced:
    raise UserError(f"{source} holds {', '.join(unplaced[:4])}"
                    f"{' ...' if len(unplaced) > 4 else ''}, which the config's network has "
                    "no place for; choose the config the file was made for (--config=...)")
  maps = _conv5_maps(like)
  out = {}
  for name in sorted(like, key=_order):
    leaf = like[name]
    expected = _pytorch_shape(name, leaf.shape, classes)
    if name not in found:
      raise UserError(f"{source} has no {_key(name, torchvision)} (shape {_shown(expected)}"
                      " in the config's network); it is not a state_dict of this network")
    key, value = found[name]
    value = np.asarray(value)
    if value.shape != expected:
      raise UserError(f"{source}: {key} has shape {_shown(value.shape)}, the config's network "
                      f"needs {_shown(expected)}; choose the config the file was made for "
                      "(--config=...)")
    out[name] = np.asarray(_from_pytorch(name, value, leaf.shape, maps), leaf.dtype)
  return out

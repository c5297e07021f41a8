"""Caffe's bvlc_alexnet weights in lenet_jax's AlexNet layout.

`bvlc_alexnet.npy` (converted from Caffe's bvlc_alexnet.caffemodel) is a pickled dict
from layer name to [weights, biases]: convolution weights in HWIO with the grouped
layers' inputs halved (conv2 (5, 5, 48, 256), conv4 (3, 3, 192, 384), conv5 (3, 3, 192,
256)), fully connected weights (inputs, outputs), and fc6's 9,216 inputs flattened in
Caffe's (C, H, W) order from conv5's pooled 256x6x6 blob.

lenet_jax's layers hold a leading tower axis (tower t: the t-th group's filters, as
GPU t held them) and flatten conv5's maps in (H, W, C) order; `to_params` moves each
array across, `from_params` back; `caffe_conventions` sets a config to the network and
input the weights were trained with.
"""

import hashlib

import numpy as np

from lenet_jax.common.errors import UserError
from lenet_jax.weights import untrusted

CONVS = ("conv1", "conv2", "conv3", "conv4", "conv5")
DENSES = ("fc6", "fc7", "fc8")
LAYERS = CONVS + DENSES
# Caffe's shapes of bvlc_alexnet (fc8's class count may differ in fine-tuned copies).
SHAPES = {"conv1": (11, 11, 3, 96), "conv2": (5, 5, 48, 256), "conv3": (3, 3, 256, 384),
          "conv4": (3, 3, 192, 384), "conv5": (3, 3, 192, 256), "fc6": (9216, 4096),
          "fc7": (4096, 4096), "fc8": (4096, None)}
CONV5_MAPS = (256, 6, 6)  # (C, H, W) of pool5, which fc6 reads


# the per-channel mean, B, G, R, that bvlc_alexnet's inputs are taken less of
CAFFE_MEAN_BGR = (104.0, 117.0, 123.0)


def caffe_conventions(config):
  """`config` set to bvlc_alexnet's network and input conventions (changed in place)."""
  config.model.norm = "lrn"
  config.model.lrn = "caffe"
  config.model.conv1_norm_input = "relu"
  config.model.conv2_rnorm = False
  config.model.towers = 2
  config.model.width = 1.0
  config.model.maps = (96, 256, 384, 384, 256)
  config.model.fc_units = 4096
  config.model.conv1_padding = (0, 0)
  config.model.adaptive_pool = 0
  config.model.dropout_scaling = "inverted"  # Caffe's dropout_layer.cpp
  config.model.pooling = "overlapping"
  config.model.activation = "relu"
  config.model.dropout_placement = "paper"
  config.data.channel_order = "bgr"
  config.data.normalization = "subtract_mean"
  config.data.pixel_mean = CAFFE_MEAN_BGR
  config.data.shorter_side = 256
  config.data.crop = 227
  return config


def sha256(path: str) -> str:
  digest = hashlib.sha256()
  with open(path, "rb") as f:
    for block in iter(lambda: f.read(1 << 20), b""):
      digest.update(block)
  return digest.hexdigest()


def load(path: str) -> dict:
  """{layer: (weights, biases)} from a bvlc_alexnet.npy; one UserError line when the file
  or a layer's shape does not fit."""
  array = untrusted.load_npy(path)  # no code in the file runs
  raw = array.item() if array.shape == () else array
  if not isinstance(raw, dict):
    raise UserError(f"--file={path} holds a {type(raw).__name__}, not a dict of layers")
  missing = [name for name in LAYERS if name not in raw]
  if missing:
    raise UserError(f"--file={path} lacks the layers {', '.join(missing)}")
  weights = {}
  for name in LAYERS:
    try:
      w, b = (np.asarray(a, np.float32) for a in raw[name])
    except (TypeError, ValueError):
      raise UserError(f"{path}: layer {name} is not [weights, biases]") from None
    expected = SHAPES[name]
    if w.ndim != len(expected) or any(e is not None and e != s for e, s in zip(expected, w.shape)):
      shown = "x".join("N" if e is None else str(e) for e in expected)
      raise UserError(f"{path}: layer {name} has weights of shape {'x'.join(map(str, w.shape))},"
                      f" expected {shown} (HWIO for convolutions, inputs x outputs for fc)")
    if b.shape != (w.shape[-1],):
      raise UserError(f"{path}: layer {name} has {b.size} biases for {w.shape[-1]} outputs")
    weights[name] = (w, b)
  return weights


def _split_out(w, towers):
  """(..., out) -> (towers, ..., out / towers): group t's outputs."""
  *lead, out = w.shape
  return np.moveaxis(w.reshape(*lead, towers, out // towers), -2, 0)


def _join_out(w):
  return np.moveaxis(w, 0, -2).reshape(*w.shape[1:-1], -1)


def fc6_caffe_to_ours(w):
  """fc6's rows from Caffe's (C, H, W) flatten order to ours, (H, W, C)."""
  c, h, wd = CONV5_MAPS
  return w.reshape(c, h, wd, -1).transpose(1, 2, 0, 3).reshape(c * h * wd, -1)


def fc6_ours_to_caffe(w):
  c, h, wd = CONV5_MAPS
  return w.reshape(h, wd, c, -1).transpose(2, 0, 1, 3).reshape(c * h * wd, -1)


def to_params(weights: dict, towers: int = 2) -> dict:
  """{layer: {'kernel', 'bias'}} arrays in lenet_jax's AlexNet layout (tower axis first)."""
  out = {}
  for name in LAYERS:
    w, b = weights[name]
    if name == "fc6":
      w = fc6_caffe_to_ours(w)
    extra = -w.shape[-1] % towers
    if extra and name != "fc8":
      raise UserError(f"layer {name} has {w.shape[-1]} outputs, which do not split over "
                      f"{towers} towers")
    if extra:  # fc8 of a class count the towers do not divide: padded units, never used
      w = np.pad(w, [(0, 0)] * (w.ndim - 1) + [(0, extra)])
      b = np.pad(b, (0, extra))
    out[name] = {"kernel": _split_out(w, towers), "bias": b.reshape(towers, -1)}
  return out


def from_params(params: dict, num_classes: int | None = None) -> dict:
  """The inverse of `to_params`: {layer: (weights, biases)} in Caffe's layout (fc8 cut to
  `num_classes` outputs, dropping padded units)."""
  out = {}
  for name in LAYERS:
    w, b = (np.asarray(params[name][k]) for k in ("kernel", "bias"))
    w, b = _join_out(w), b.reshape(-1)
    if name == "fc6":
      w = fc6_ours_to_caffe(w)
    if name == "fc8" and num_classes is not None:
      w, b = w[..., :num_classes], b[:num_classes]
    out[name] = (w, b)
  return out


def save(path: str, weights: dict) -> None:
  """Writes `weights` ({layer: (w, b)}) as a bvlc_alexnet.npy-style pickled dict."""
  np.save(path, {name: [w, b] for name, (w, b) in weights.items()}, allow_pickle=True)

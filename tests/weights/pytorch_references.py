"""What experiments/weights/make_references.py (run by hand, with torch and torchvision) and
tests/weights/test_pytorch_weights.py (without them) both draw: the weights, the inputs and
the small networks whose PyTorch outputs `REFERENCES` holds. numpy and lenet_jax only.

- torchvision: `torchvision_weights()`, a state_dict of torchvision.models.alexnet()'s keys
  and shapes drawn with numpy (He-scaled, so the logits carry signal), and `images(...)`,
  uint8 224x224 RGB images; torchvision's forward on them is in REFERENCES.
- two_tower, batchnorm: `small_config(norm)`, the paper's two-tower AlexNet at 67x67 with
  256 FC units and 5 classes (fc8: 3 units a tower, one never used), and
  `small_variables(task)`, its parameters drawn by the model's own initialiser (seed 0;
  BatchNorm's scale, bias and running statistics then moved off 1 and 0 with numpy); the
  script exports that run and a PyTorch network with groups=2 convolutions gives the
  logits in REFERENCES. A weighted sum of each exported tensor (`probe`) lets the test see
  that its export holds the values the script's did, in the same places.
"""

import os

import jax
import numpy as np

REFERENCES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "pytorch_references.npz")
# torchvision/models/alexnet.py's state_dict (experiments/alexnet/deviations/caffe_torchvision.md)
TORCHVISION_SHAPES = {
    "features.0": (64, 3, 11, 11), "features.3": (192, 64, 5, 5),
    "features.6": (384, 192, 3, 3), "features.8": (256, 384, 3, 3),
    "features.10": (256, 256, 3, 3), "classifier.1": (4096, 9216),
    "classifier.4": (4096, 4096), "classifier.6": (1000, 4096)}
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
SMALL_SIDE, SMALL_CLASSES = 67, 5


def torchvision_weights(seed: int = 0) -> dict:
  """{key: float32 array} in torchvision's AlexNet layout: weights N(0, 2 / fan_in), biases
  N(0, 0.01)."""
  rng = np.random.default_rng(seed)
  out = {}
  for module, shape in TORCHVISION_SHAPES.items():
    fan_in = int(np.prod(shape[1:]))
    out[f"{module}.weight"] = (rng.standard_normal(shape, np.float32)
                               * np.float32((2.0 / fan_in) ** 0.5))
    out[f"{module}.bias"] = rng.standard_normal(shape[0], np.float32) * np.float32(0.1)
  return out


def images(seed: int, count: int, side: int) -> np.ndarray:
  """uint8 RGB images [count, side, side, 3]."""
  return np.random.default_rng(seed).integers(0, 256, (count, side, side, 3), np.uint8)


def torchvision_inputs(batch: np.ndarray) -> np.ndarray:
  """torchvision's preset on 224x224 images, its last two steps (ToTensor's / 255, then
  Normalize with ImageNet's mean and std), NCHW float32."""
  x = batch.astype(np.float32) / np.float32(255)
  x = (x - np.float32(IMAGENET_MEAN)) / np.float32(IMAGENET_STD)
  return np.ascontiguousarray(x.transpose(0, 3, 1, 2))


def probe(array) -> float:
  """A sum that moves when values move places: each value times cos(its flat index)."""
  flat = np.asarray(array, np.float64).reshape(-1)
  return float(np.sum(flat * np.cos(np.arange(flat.size))))


def small_config(norm: str = "lrn"):
  """configs/alexnet.py's two-tower network at 67x67 (conv5 1x1x256 maps), 256 FC units,
  5 classes, He-initialised, on synthetic data."""
  from configs import alexnet
  config = alexnet.get_config("data=synthetic")
  config.data.source = "synthetic"
  config.data.resize = SMALL_SIDE
  config.data.synthetic_shape = (SMALL_SIDE, SMALL_SIDE, 3)
  config.data.synthetic_classes = SMALL_CLASSES
  config.data.synthetic_train_size = 8
  config.data.synthetic_test_size = 8
  config.batch_size = config.eval_batch_size = 8
  config.num_epochs = 1
  config.model.fc_units = 256
  config.model.init = "he"
  config.model.norm = norm
  return config


def small_variables(task) -> dict:
  """The variables of `small_config`'s network: its initialiser's (seed 0), BatchNorm's
  scale, bias, mean and variance drawn with numpy (uniform, the variances positive)."""
  from lenet_jax.weights.import_weights import name
  variables = task.init_variables(0)
  rng = np.random.default_rng(7)
  low_high = {"scale": (0.5, 1.5), "bias": (-0.5, 0.5), "mean": (-0.5, 0.5), "var": (0.5, 2.0)}

  def draw(path, leaf):
    layer, kind = name(path).split(".")
    if not layer.startswith("bn"):
      return leaf
    return jax.numpy.asarray(rng.uniform(*low_high[kind], leaf.shape), leaf.dtype)

  return {kind: jax.tree_util.tree_map_with_path(draw, tree)
          for kind, tree in variables.items()}

"""What each dataset is: image shape, classes, TFDS name, normalisation statistics."""

import dataclasses


@dataclasses.dataclass(frozen=True)
class DatasetSpec:
  name: str
  image_shape: tuple  # (height, width, channels) as stored, uint8
  num_classes: int
  tfds_name: str | None
  mean: tuple  # per channel, on the [0, 1] scale
  std: tuple
  idx: bool  # distributed as IDX files
  streamed: bool = False  # read by grain batch by batch (lenet_jax.data.streaming), never held whole
  splits: tuple = ("train", "test")  # TFDS's names of the training and test splits
  # A prepared set (lenet_jax.data.prepared) stores stored_side x stored_side images;
  # the device crops them to image_shape. None: images arrive at image_shape.
  stored_side: int | None = None


SPECS = {
    "mnist": DatasetSpec("mnist", (28, 28, 1), 10, "mnist", (0.1307,), (0.3081,), True),
    "fashion_mnist": DatasetSpec(
        "fashion_mnist", (28, 28, 1), 10, "fashion_mnist", (0.2860,), (0.3530,), True),
    "kmnist": DatasetSpec("kmnist", (28, 28, 1), 10, "kmnist", (0.1918,), (0.3483,), True),
    "cifar10": DatasetSpec(
        "cifar10", (32, 32, 3), 10, "cifar10",
        (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616), False),
    "synthetic": DatasetSpec("synthetic", (28, 28, 1), 10, None, (0.5,), (0.29,), False),
    # Streamed: image_shape is the 227x227 crop the model sees (images vary in size).
    "imagenet2012": DatasetSpec(
        "imagenet2012", (227, 227, 3), 1000, "imagenet2012", (0.485, 0.456, 0.406),
        (0.229, 0.224, 0.225), False, streamed=True, splits=("train", "validation")),
    "imagenette": DatasetSpec(
        "imagenette", (227, 227, 3), 10, "imagenette/full-size-v2", (0.485, 0.456, 0.406),
        (0.229, 0.224, 0.225), False, streamed=True, splits=("train", "validation")),
}

DATASETS = tuple(SPECS)

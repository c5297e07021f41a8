"""Random images of a dataset's shape, for benchmarks and smoke tests."""

import numpy as np


def load(splits, image_shape, num_classes: int, sizes: dict, seed: int):
  rng = np.random.default_rng(seed)
  return {
      s: (rng.integers(0, 256, (sizes[s],) + tuple(image_shape), dtype=np.uint8),
          rng.integers(0, num_classes, (sizes[s],), dtype=np.int32))
      for s in splits
  }


def _register():
  from lenet_jax.common import random_streams
  from lenet_jax.data import sources

  def load_splits(data_config, spec, splits, location):
    del location
    sizes = {"train": data_config.synthetic_train_size, "test": data_config.synthetic_test_size}
    # one fixed seed: runs that differ in config.seed (a sweep's seeds) see the same images
    return load(splits, spec.image_shape, spec.num_classes, sizes, seed=random_streams.SYNTHETIC)

  sources.register(sources.Source(
      "synthetic", locate=lambda data_config, spec, splits: "random",
      serves=lambda spec: None if spec.name == "synthetic" else (
          "use --config.data.name=synthetic for random images"),
      load=load_splits, auto_order=0,
      available=lambda data_config, spec, splits: spec.name == "synthetic"))


_register()

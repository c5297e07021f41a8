"""Random images of a dataset's shape, for benchmarks and smoke tests."""

import numpy as np


def load(splits, image_shape, num_classes: int, sizes: dict, seed: int = 0):
  rng = np.random.default_rng(seed)
  return {
      s: (rng.integers(0, 256, (sizes[s],) + tuple(image_shape), dtype=np.uint8),
          rng.integers(0, num_classes, (sizes[s],), dtype=np.int32))
      for s in splits
  }

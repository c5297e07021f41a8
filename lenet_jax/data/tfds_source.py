"""TensorFlow Datasets through `tfds.data_source` (array_record): no TensorFlow needed."""

import os

import numpy as np

from lenet_jax.common.errors import UserError


def is_prepared(tfds_name: str, data_dir: str | None) -> bool:
  """Whether the dataset is already prepared locally (needs no network)."""
  try:
    import tensorflow_datasets as tfds
  except ImportError:
    return False
  root = os.path.expanduser(data_dir or os.environ.get("TFDS_DATA_DIR", "~/tensorflow_datasets"))
  if not os.path.isdir(os.path.join(root, tfds_name)):
    return False  # checked first: TFDS warns about a missing folder
  try:
    return tfds.builder(tfds_name, data_dir=data_dir).is_prepared()
  except Exception:  # an unknown or unreadable builder is simply not prepared
    return False


def load(tfds_name: str, splits, data_dir: str | None, download: bool):
  """{split: (images uint8 [N, H, W, C], labels int32 [N])} read into memory."""
  try:
    import tensorflow_datasets as tfds
  except ImportError:
    raise UserError("data.source='tfds' needs tensorflow-datasets: pip install "
                    "tensorflow-datasets array_record importlib_resources") from None
  out = {}
  for split in splits:
    try:
      source = tfds.data_source(tfds_name, split=split, data_dir=data_dir, download=download)
    except Exception as e:  # TFDS raises many types; all mean the same to a user
      raise UserError(
          f"TFDS could not provide {tfds_name}/{split} (data_dir={data_dir}): "
          f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}; prepare it with "
          "network access or use --config.data.source=idx with --config.data.dir") from None
    try:
      out[split] = _read_all(source)
    except Exception as e:  # a truncated or corrupt array_record file, a bad record
      raise UserError(
          f"TFDS's files for {tfds_name}/{split} (data_dir={data_dir}) cannot be read: "
          f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}; delete the "
          "dataset's folder and prepare it again") from None
  return out


def _read_all(source):
  n = len(source)
  if n == 0:
    return np.zeros((0, 1, 1, 1), np.uint8), np.zeros((0,), np.int32)
  first = source[0]
  images = np.empty((n,) + np.shape(first["image"]), np.uint8)
  labels = np.empty((n,), np.int32)
  for i in range(n):
    record = first if i == 0 else source[i]
    images[i] = record["image"]
    labels[i] = record["label"]
  return images, labels


def _register():
  from lenet_jax.data import network, sources

  def load_splits(data_config, spec, splits, location):
    return load(location, splits, data_config.tfds_data_dir, download=network.reachable())

  def streams(config, resolved):
    from lenet_jax.data import streaming
    return streaming.streams(config, resolved.spec)

  sources.register(sources.Source(
      "tfds", locate=lambda data_config, spec, splits: spec.tfds_name,
      serves=lambda spec: None if spec.tfds_name else f"{spec.name} has no TFDS copy",
      load=load_splits, streams=streams, auto_order=2,
      # auto: a copy prepared here, or the network to download one
      available=lambda data_config, spec, splits: bool(spec.tfds_name) and (
          is_prepared(spec.tfds_name, data_config.tfds_data_dir) or network.reachable())))


_register()

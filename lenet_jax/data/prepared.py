"""Reading a prepared set (`lenet_jax.prepare`, `lenet_jax.data.prepare`): raw
uint8 256x256x3 images in memory-mapped shards, read at random by grain, one batch
per read, with no decoding.

Each process reads only its rows of each global batch. The batches of epoch e are a
function of (seed, e) alone, so a run resumed mid-epoch reads the same batches as
one that was not stopped. The host ships the fixed-size images as they are stored;
the device crops them (random 227x227 patch and flip for training, the centre or the
paper's ten patches for evaluation: `lenet_jax.data.crops`).
"""

import json
import os

import numpy as np

from lenet_jax.data import batch_buffers, prepare
from lenet_jax.common.errors import UserError

# grain reads this many batches ahead, in `read_threads(n)` threads (a batch is one
# gather from the memory maps; config.data.read_threads, 0: one per core up to 8). On
# this project's 2-core VM, 20,000 images host-only: 1 thread 37.6k images/s, 2
# threads 57.5k, 4 threads 53.3k (experiments/alexnet/README.md).
MAX_AUTO_THREADS = 8
READ_AHEAD = 4
HELD_BATCHES = 4  # batch buffers kept beyond those being read or read ahead


def read_threads(requested: int = 0) -> int:
  """Grain threads reading batches: `requested`, or for 0 one per core up to 8."""
  return requested or min(os.cpu_count() or 1, MAX_AUTO_THREADS)


def read_manifest(directory: str) -> dict:
  """The manifest of a finished preparation in `directory`; one UserError line otherwise."""
  if not directory:
    raise UserError("config.data.source='prepared' needs --config.data.dir=DIR, a directory made "
                    "by python -m lenet_jax.prepare")
  path = os.path.join(directory, prepare.MANIFEST)
  if not os.path.isfile(path):
    unfinished = os.path.isfile(os.path.join(directory, prepare.PLAN))
    raise UserError(
        f"config.data.dir={directory!r} holds no finished prepared set (no {prepare.MANIFEST})"
        + ("; its preparation was stopped: run the same lenet_jax.prepare command to finish it"
           if unfinished else "; make one with python -m lenet_jax.prepare --out=DIR"))
  try:
    with open(path) as f:
      manifest = json.load(f)
    if manifest.get("format") != prepare.FORMAT:
      raise ValueError(f"format {manifest.get('format')!r}, expected {prepare.FORMAT!r}")
  except (OSError, ValueError) as e:
    raise UserError(f"{path} cannot be read ({e}); prepare the set again") from None
  return manifest


class PreparedSplit:
  """One split of a prepared set: `len`, `[i]` -> {'image', 'label'} (grain's
  random-access protocol) and `read(indices)`, a whole batch in one gather."""

  def __init__(self, directory: str, split: str, manifest: dict | None = None):
    manifest = manifest or read_manifest(directory)
    if split not in manifest["splits"]:
      raise UserError(f"the prepared set in {directory} has no split {split!r} (it has "
                      f"{', '.join(manifest['splits'])})")
    self.shape = tuple(manifest["image_shape"])
    counts = manifest["splits"][split]["shards"]
    self.images, labels = [], []
    for index, count in enumerate(counts):
      stem = os.path.join(directory, split, f"shard-{index:05d}")
      if count == 0:
        continue
      try:
        size = os.path.getsize(stem + ".images")
        if size != count * int(np.prod(self.shape)):
          raise OSError(f"{size:,} bytes, expected {count * int(np.prod(self.shape)):,}")
        self.images.append(np.memmap(stem + ".images", np.uint8, "r",
                                     shape=(count,) + self.shape))
        labels.append(np.fromfile(stem + ".labels", "<i4"))
        if len(labels[-1]) != count:
          raise OSError(f"{len(labels[-1])} labels, expected {count}")
      except OSError as e:
        raise UserError(f"{stem}.images/.labels of the prepared set cannot be read ({e}); "
                        "prepare the set again") from None
    self.labels = np.concatenate(labels).astype(np.int32) if labels else np.zeros(0, np.int32)
    self.ends = np.cumsum([len(m) for m in self.images])
    self.starts = self.ends - np.asarray([len(m) for m in self.images], int)

  def __len__(self) -> int:
    return len(self.labels)

  def __getitem__(self, i: int) -> dict:
    shard = int(np.searchsorted(self.ends, i, side="right"))
    return {"image": np.asarray(self.images[shard][i - self.starts[shard]]),
            "label": self.labels[i]}

  def read(self, indices, out: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(uint8 images [n, side, side, 3], int32 labels [n]) of `indices`, in that order;
    the images in `out` when given (C-contiguous, that shape), else in a new aligned
    array."""
    indices = np.asarray(indices, np.int64).reshape(-1)
    if out is None:
      out = batch_buffers.aligned((len(indices),) + self.shape)
    if not len(indices):
      return out, self.labels[indices]
    if not 0 <= indices.min() <= indices.max() < len(self):
      raise IndexError(f"indices {indices.min()}..{indices.max()} outside 0..{len(self) - 1}")
    shards = np.searchsorted(self.ends, indices, side="right")
    # One copy from the page cache into `out` per run of rows in the same shard (a
    # sorted batch: one run per shard). np.take(mode='clip') writes straight into out;
    # fancy indexing (and take's default mode='raise') copies through a temporary:
    # 33k-34k against 126k-131k images/s into a reused batch, one thread, on this
    # project's 2-core VM (experiments/alexnet/gather_micro.py).
    bounds = np.concatenate([[0], np.flatnonzero(np.diff(shards)) + 1, [len(indices)]])
    for begin, end in zip(bounds[:-1], bounds[1:]):
      shard = shards[begin]
      np.take(self.images[shard], indices[begin:end] - self.starts[shard], axis=0,
              out=out[begin:end], mode="clip")
    return out, self.labels[indices]


class PreparedStream:
  """Batches of one prepared split, with `streaming.Stream`'s contract: `epoch(e, skip)`
  yields (uint8 images [B/P, side, side, 3], int32 labels [B/P]) for this process's
  rows of each global batch B (P processes); `num_batches`, `batch_size` (this
  process's rows), `source`.

  Training batches are full and drawn from a permutation of the split seeded by
  (seed, epoch); evaluation batches cover the split once (less its last n mod P
  images, as the streamed input).
  """

  def __init__(self, source: PreparedSplit, batch_size: int, train: bool, seed: int,
               process_index: int = 0, process_count: int = 1, threads: int = 0,
               prefetch: int = READ_AHEAD):
    self.source, self.train, self.seed = source, train, seed
    self.batch_size = batch_size // process_count
    self.process = (process_index, process_count)
    self.threads, self.prefetch = read_threads(threads), prefetch
    # Batches being read, read ahead, and held by the loop or a transfer in flight:
    # their buffers are reused once released (50 MB each at batch 256).
    self.buffers = batch_buffers.BufferPool(keep=self.threads + prefetch + HELD_BATCHES)
    self._orders = {}
    n = len(source)
    if train:
      self.num_batches = n // (self.batch_size * process_count)
    else:
      self.num_batches = -(-(n // process_count) // self.batch_size)

  def rows(self, epoch: int, batch: int) -> np.ndarray:
    """The split's indices that are this process's rows of batch `batch` of `epoch`."""
    index, count = self.process
    b = self.batch_size
    if self.train:
      order = self._order(epoch)
      mine = order[(batch * count + index) * b:(batch * count + index + 1) * b]
      return np.sort(mine)  # in file order: the batch is a set, reading it is faster sorted
    local = np.arange(index, len(self.source) - len(self.source) % count, count)
    return local[batch * b:(batch + 1) * b]

  def _order(self, epoch: int) -> np.ndarray:
    """The epoch's permutation of the split, made once per epoch (grain's threads share it)."""
    if self._orders.get("epoch") != epoch:
      order = np.random.default_rng([self.seed, epoch]).permutation(len(self.source))
      self._orders = {"epoch": epoch, "order": order}
    return self._orders["order"]

  def _batch(self, epoch: int, batch: int):
    rows = self.rows(epoch, batch)
    return self.source.read(rows, self.buffers.take((len(rows),) + self.source.shape))

  def epoch(self, epoch: int, skip: int = 0):
    import grain
    ds = grain.MapDataset.range(skip, self.num_batches).map(lambda b: self._batch(epoch, b))
    return iter(ds.to_iter_dataset(grain.ReadOptions(num_threads=self.threads,
                                                     prefetch_buffer_size=self.prefetch)))


def streams(config, spec, manifest: dict):
  """(training PreparedStream, test PreparedStream) of the prepared set in config.data.dir,
  whose `manifest` validation read."""
  import jax
  directory = config.data.dir
  train_split, test_split = spec.splits
  kwargs = dict(seed=config.seed, process_index=jax.process_index(),
                process_count=jax.process_count(), threads=config.data.read_threads)
  train = PreparedStream(PreparedSplit(directory, train_split, manifest), config.batch_size,
                         train=True, **kwargs)
  test = PreparedStream(PreparedSplit(directory, test_split, manifest), config.eval_batch_size,
                        train=False, **kwargs)
  if train.num_batches == 0:
    raise UserError(f"the prepared {train_split} split in {directory} has {len(train.source)} "
                    f"images, fewer than one batch of {config.batch_size}; lower "
                    "config.batch_size")
  return train, test


def _register():
  import os

  from lenet_jax.data import sources
  sources.register(sources.Source(
      "prepared", locate=lambda data_config, spec, splits: os.path.abspath(data_config.dir),
      streams=lambda config, resolved: streams(config, resolved.spec, resolved.manifest),
      streaming_keys=True))


_register()

"""Preparing a large image dataset once (`python -m lenet_jax.prepare`), the paper's way (Krizhevsky et al. 2012,
section 2): each image "down-sampled to a fixed resolution of 256 x 256" (shorter
side to 256, then the central 256 x 256 patch), stored as raw uint8 so that training
reads it at random with no decoding (`lenet_jax.data.prepared`).

Layout of the output directory:

  plan.json                      what is being prepared (source, classes, listing digests)
  <split>/shard-00000.images     uint8 [n, 256, 256, 3], C order, no header
  <split>/shard-00000.labels     int32 [n], little-endian
  <split>/shard-00000.json       n, digests, skipped files: written last, so a shard
                                 is finished exactly when its .json exists
  manifest.json                  written when every shard is: sizes, classes, shape,
                                 the command, a content checksum

Shards are made by worker processes, each from its own inputs only, so the output
is the same bytes whatever the order or the number of workers, and a killed
preparation continues where it stopped (unfinished shards are made again).
"""

import dataclasses
import functools
from concurrent import futures
import hashlib
import json
import multiprocessing
import os
import shutil
import signal
import sys

import numpy as np

from lenet_jax.common import files
from lenet_jax.common.errors import UserError, first_line
from lenet_jax.data import folder

FORMAT = "lenet_jax.prepared/1"
PLAN, MANIFEST = "plan.json", "manifest.json"
ON_BAD_IMAGE = ("stop", "skip")


class BadImage(UserError):
  """An input image that cannot be decoded, with `config.data.on_bad_image='stop'`."""


@dataclasses.dataclass(frozen=True)
class Job:
  """One shard to make: its inputs are `items[start:stop]` of the split's listing."""
  out: str
  split: str
  index: int
  source: str  # 'folder' or 'tfds'
  items: tuple  # folder: ((path, label), ...); tfds: (name, split, data_dir, start, stop)
  side: int
  on_bad_image: str

  @property
  def inputs(self) -> int:
    """How many input images the shard is made from."""
    return len(self.items) if self.source == "folder" else self.items[4] - self.items[3]

  @property
  def stem(self) -> str:
    return os.path.join(self.out, self.split, f"shard-{self.index:05d}")


def fixed_size(image: np.ndarray, side: int) -> np.ndarray:
  """The paper's fixed-resolution image: shorter side to `side` (bilinear), then the
  central side x side patch."""
  from lenet_jax.data import streaming
  return np.ascontiguousarray(streaming.center_crop(streaming.resize_shorter_side(image, side),
                                                    side))


@functools.lru_cache(maxsize=None)
def _tfds_source(name, split, data_dir):
  from lenet_jax.data import streaming
  return streaming.open_source(name, split, data_dir)


def _inputs(job: Job):
  """(name for messages, a function giving (image array, label)) of each input."""
  from lenet_jax.data import streaming  # decodes by content: CMYK, grey, a PNG named .JPEG
  if job.source == "folder":
    for path, label in job.items:
      yield path, functools.partial(lambda p, l: (streaming.decode(folder.read(p)), l), path,
                                    label)
  else:
    name, split, data_dir, start, stop = job.items
    source = _tfds_source(name, split, data_dir)
    for i in range(start, stop):
      def read(i=i):
        record = source[i]
        return streaming.decode(record["image"]), int(record["label"])
      yield f"{name}/{split}[{i}]", read


def _write_atomic(path: str, data: bytes) -> None:
  files.write_atomic(path, data, sync=True)


def make_shard(job: Job) -> dict:
  """Decodes, resizes and writes one shard; returns its record (also its .json)."""
  images, labels, skipped = [], [], []
  for name, read in _inputs(job):
    try:
      image, label = read()
      images.append(fixed_size(image, job.side))
    except Exception as e:  # PIL raises many types for a bad file; each means the same
      if job.on_bad_image == "stop":
        raise BadImage(f"{name} cannot be read ({first_line(e)}); fix or remove it, or set "
                       "--config.data.on_bad_image=skip to leave such files out") from None
      skipped.append([name, first_line(e)])
      continue
    labels.append(label)
  stacked = (np.stack(images) if images else
             np.zeros((0, job.side, job.side, 3), np.uint8))
  label_bytes = np.asarray(labels, "<i4").tobytes()
  record = {"count": len(labels), "skipped": skipped,
            "images_sha256": hashlib.sha256(stacked.data).hexdigest(),
            "labels_sha256": hashlib.sha256(label_bytes).hexdigest()}
  _write_atomic(job.stem + ".images", stacked.data)
  _write_atomic(job.stem + ".labels", label_bytes)
  _write_atomic(job.stem + ".json", json.dumps(record, sort_keys=True).encode())
  return record


def finished(job: Job) -> dict | None:
  """The shard's record if it was finished (its .json written last, its files whole)."""
  try:
    with open(job.stem + ".json") as f:
      record = json.load(f)
    sizes = (os.path.getsize(job.stem + ".images"), os.path.getsize(job.stem + ".labels"))
  except (OSError, ValueError):
    return None
  if sizes != (record["count"] * job.side * job.side * 3, record["count"] * 4):
    return None
  return record


def _digest(lines) -> str:
  return hashlib.sha256("\n".join(map(str, lines)).encode()).hexdigest()


def plan(data_config, spec, out: str) -> tuple[dict, list[Job]]:
  """(the plan: what `out` will hold, every shard's Job) for `data_config`'s source."""
  source, side = data_config.source, data_config.shorter_side
  shard_size = data_config.shard_size
  on_bad = data_config.on_bad_image
  jobs, splits = [], {}
  if source == "folder":
    root = data_config.dir
    if not root or not os.path.isdir(root):
      raise UserError(f"config.data.dir={root!r} is not a directory; point it at the image "
                      "folder tree (DIR/train/<class>/*, DIR/val/<class>/*)")
    classes = folder.classes(root)
    location = os.path.abspath(root)
    for split in spec.splits:
      items = folder.listing(root, split, classes)
      splits[split] = {"inputs": len(items), "listing_sha256": _digest(
          f"{os.path.relpath(p, root)}\t{l}" for p, l in items)}
      for index, start in enumerate(range(0, len(items), shard_size)):
        jobs.append(Job(out, split, index, source, tuple(items[start:start + shard_size]), side,
                        on_bad))
  elif source == "tfds":
    data_dir = data_config.tfds_data_dir or None
    classes, location = None, spec.tfds_name
    for split in spec.splits:
      n = len(_tfds_source(spec.tfds_name, split, data_dir))
      splits[split] = {"inputs": n, "listing_sha256": _digest([spec.tfds_name, split, n])}
      for index, start in enumerate(range(0, n, shard_size)):
        jobs.append(Job(out, split, index, source,
                        (spec.tfds_name, split, data_dir, start, min(start + shard_size, n)),
                        side, on_bad))
    classes = _tfds_class_names(spec.tfds_name, data_dir, spec.num_classes)
  else:
    raise UserError(f"config.data.source={source!r} cannot be prepared: use 'folder' (an image "
                    "folder tree in config.data.dir) or 'tfds'")
  the_plan = {"format": FORMAT, "dataset": spec.name, "source": source, "location": location,
              "image_shape": [side, side, 3], "shard_size": shard_size,
              "classes": classes, "splits": splits}
  return the_plan, jobs


def _tfds_class_names(name, data_dir, num_classes):
  try:
    import tensorflow_datasets as tfds
    return list(tfds.builder(name, data_dir=data_dir).info.features["label"].names)
  except Exception:  # a builder without names: numbered classes
    return [str(i) for i in range(num_classes)]


def check_out_dir(out: str, the_plan: dict) -> None:
  """`out` must be new, empty, or a preparation of the same plan (which is continued)."""
  path = os.path.join(out, PLAN)
  if os.path.isfile(path):
    with open(path) as f:
      before = json.load(f)
    if before != the_plan:
      changed = sorted(k for k in set(before) | set(the_plan) if before.get(k) != the_plan.get(k))
      raise UserError(f"{out} holds a preparation of other input ({', '.join(changed)} differ); "
                      "use a new --out, or delete it to start again")
  elif os.path.isdir(out) and set(os.listdir(out)) - {"lock.json"}:
    raise UserError(f"--out={out} is a directory that is not empty and holds no preparation; "
                    "choose a new or empty directory")


def size_text(count: float) -> str:
  """A byte count in the unit that shows it: '16.0 MB', '252.0 GB', '512 bytes'."""
  for unit, scale in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
    if count >= scale:
      return f"{count / scale:,.1f} {unit}"
  return f"{int(count)} bytes"


def check_disk(out: str, jobs, side: int) -> None:
  need = (side * side * 3 + 4) * sum(j.inputs for j in jobs)
  existing = os.path.abspath(out)
  while not os.path.isdir(existing):
    existing = os.path.dirname(existing)
  free = shutil.disk_usage(existing).free
  if need > free:
    raise UserError(f"preparing needs {size_text(need)} more in {out} and {size_text(free)} is "
                    "free; free space or choose another --out")


def _ignore_signals():
  # Stop signals are the parent's to handle: it stops the workers between shards.
  signal.signal(signal.SIGINT, signal.SIG_IGN)
  signal.signal(signal.SIGTERM, signal.SIG_IGN)
  try:  # Linux: a worker dies with its parent (a kill -9 of the command leaves none behind)
    import ctypes
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
  except (OSError, AttributeError):
    pass


def prepare(data_config, spec, out: str, command: str, workers: int = 0, stop=None) -> dict:
  """Prepares `data_config`'s source into `out` (continuing a stopped preparation), holding
  `out`'s lock (one writer at a time); returns the manifest. `stop`: a
  `preemption.StopSignals`, checked between shards."""
  from lenet_jax.common import lock
  listing = functools.partial(plan, data_config, spec, out)
  the_plan, jobs = (stop.wait_for(listing, "while the input was listed; nothing was written")
                    if stop is not None else listing())
  with lock.hold(out, "lenet_jax.prepare"):
    check_out_dir(out, the_plan)
    try:
      return _prepare(the_plan, jobs, out, command, workers, stop)
    except OSError as e:  # a directory that cannot be made, a full disk while planning
      raise UserError(f"preparing into {out} failed ({first_line(e)}); choose a writable --out "
                      "with free space") from None


def summary(manifest: dict, out: str) -> list[str]:
  """The lines printed when a preparation finishes."""
  side = manifest["image_shape"][0]
  sizes = ", ".join(f"{split} {s['size']:,}" for split, s in manifest["splits"].items())
  total = sum(s["size"] for s in manifest["splits"].values())
  lines = [f"prepared {manifest['dataset']} from {manifest['source']} ({manifest['location']}) "
           f"into {out}: {sizes} images of {side}x{side}x3, {len(manifest['classes'])} classes, "
           f"{size_text(total * (side * side * 3 + 4))}; checksum {manifest['checksum'][:16]}"]
  skipped = [s for split in manifest["splits"].values() for s in split["skipped"]]
  if skipped:
    lines.append(f"warning: {len(skipped)} unreadable file(s) skipped, listed in "
                 f"{out}/manifest.json; the first: {skipped[0][0]} ({skipped[0][1]})")
  return lines


def _prepare(the_plan, jobs, out, command, workers, stop) -> dict:
  records = {(j.split, j.index): finished(j) for j in jobs}
  pending = [j for j in jobs if records[(j.split, j.index)] is None]
  side = the_plan["image_shape"][0]
  check_disk(out, pending, side)
  for split in the_plan["splits"]:
    os.makedirs(os.path.join(out, split), exist_ok=True)
  if not os.path.isfile(os.path.join(out, PLAN)):
    _write_atomic(os.path.join(out, PLAN), json.dumps(the_plan, sort_keys=True, indent=1).encode())
  total = sum(s["inputs"] for s in the_plan["splits"].values())
  workers = min(workers or os.cpu_count() or 1, max(len(pending), 1))
  if pending:
    pool = None
    if workers == 1:
      results = map(_make_indexed, pending)
    else:
      pool = futures.ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork"),
                                         initializer=_ignore_signals)
      results = (f.result() for f in futures.as_completed(
          [pool.submit(_make_indexed, j) for j in pending]))
    from tqdm import tqdm
    progress = tqdm(total=total, initial=total - sum(j.inputs for j in pending), unit="image",
                    desc="prepare", file=sys.stderr, mininterval=2.0)
    try:
      for job, record in results:
        records[(job.split, job.index)] = record
        progress.update(record["count"] + len(record["skipped"]))
        if stop is not None and stop.signum is not None and any(r is None
                                                               for r in records.values()):
          done = sum(r is not None for r in records.values())
          raise stop.stopped(f"after {done} of {len(jobs)} shards; they are kept in {out}: run "
                             "the same command to continue")
    except futures.BrokenExecutor:
      raise UserError(f"a worker process of the preparation died (killed, or out of memory); the "
                      f"finished shards are kept in {out}: run the same command to continue") \
          from None
    except OSError as e:  # a full disk, a file that vanished: the finished shards stay
      raise UserError(f"preparing into {out} failed ({first_line(e)}); the finished shards are "
                      "kept: fix the cause and run the same command to continue") from None
    finally:
      progress.close()
      if pool is not None:
        _kill(pool)
  return write_manifest(out, the_plan, jobs, records, command)


def _kill(pool) -> None:
  """Stops the workers at once (a shard being written is left unfinished, as a kill would)."""
  for process in list(getattr(pool, "_processes", {}).values()):
    process.kill()
  pool.shutdown(wait=True, cancel_futures=True)


def _make_indexed(job: Job):
  return job, make_shard(job)


def write_manifest(out, the_plan, jobs, records, command) -> dict:
  splits, shard_digests = {}, []
  for split in the_plan["splits"]:
    mine = [records[(j.split, j.index)] for j in jobs if j.split == split]
    skipped = [s for r in mine for s in r["skipped"]]
    splits[split] = {"size": sum(r["count"] for r in mine), "shards": [r["count"] for r in mine],
                     "skipped": skipped}
    shard_digests += [f"{split}\t{r['images_sha256']}\t{r['labels_sha256']}" for r in mine]
  manifest = dict(the_plan, splits=splits, command=command,
                  checksum=hashlib.sha256("\n".join(shard_digests).encode()).hexdigest())
  _write_atomic(os.path.join(out, MANIFEST), json.dumps(manifest, sort_keys=True,
                                                        indent=1).encode())
  return manifest

"""Throughput of AlexNet's inputs on this machine: the JPEG stream
(lenet_jax.data.streaming) and a prepared set (lenet_jax.data.prepared), in one run.

  python experiments/alexnet/input_pipeline.py [--images 512] [--threads 2] [--workers 0] [--batch 128]
  python experiments/alexnet/input_pipeline.py --prepared 20000 --dir /tmp/bench [--batch 256] [--read_threads 0] [--reuse]

The JPEG source is an in-memory list of JPEG-encoded 500x375 images (ImageNet's
typical size) made from smoothed noise, so its figure is the host-side cost of
decode + resize + crop + flip + batching, without disk reads.

With --prepared N, the run also writes N such JPEGs as an image-folder tree in
--dir, prepares them with `lenet_jax.prepare`'s code on every core (preparation
images/s, per core, bytes per image), and measures the prepared set's training
feed: batches read at random through grain (--read_threads threads; 0, as training:
one per core up to 8), one batch put on the device again and again (the copy
alone), batches put on the device (uint8) in the loop, and 2 ahead in a
thread as training does (data.device_prefetch), then the
same with the device's augmentation (random 227 crop, flip, PCA lighting,
normalisation) run on it, and the same images read from one array_record file
through grain, the other random-access form considered. --reuse keeps a finished
prepared set of the same images in --dir (a second run with other read threads)
instead of preparing it again, and then prints no preparation figure.
"""

import argparse
import io
import os
import shutil
import sys
import time

import numpy as np
from absl import flags
from PIL import Image, ImageFilter

from lenet_jax.data import streaming


def jpeg(rng, width=500, height=375) -> bytes:
  noise = rng.integers(0, 256, (height // 8, width // 8, 3), np.uint8)
  image = Image.fromarray(noise).resize((width, height), Image.BILINEAR)
  buffer = io.BytesIO()
  image.filter(ImageFilter.GaussianBlur(2)).save(buffer, format="JPEG", quality=90)
  return buffer.getvalue()


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument("--images", type=int, default=512)
  parser.add_argument("--threads", type=int, default=2)
  parser.add_argument("--workers", type=int, default=0)
  parser.add_argument("--batch", type=int, default=128)
  parser.add_argument("--prepared", type=int, default=0, help="images of a prepared set to make")
  parser.add_argument("--read_threads", type=int, default=0,
                      help="grain threads reading the prepared set; 0: one per core up to 8")
  parser.add_argument("--dir", default="/tmp/lenet_jax_input_bench")
  parser.add_argument("--skip_array_record", action="store_true")
  parser.add_argument("--reuse", action="store_true",
                      help="keep a finished prepared set of the same images in --dir")
  args = parser.parse_args()
  flags.FLAGS.mark_as_parsed()  # grain's worker processes read absl flags
  prepared_rate = prepared_figures(args) if args.prepared else None
  rng = np.random.default_rng(0)
  source = [{"image": jpeg(rng), "label": i % 1000} for i in range(args.images)]
  for train in (True, False):
    stream = streaming.Stream(source, args.batch, train=train, seed=0, threads=args.threads,
                              shorter_side=256, crop=227, workers=args.workers)
    t0 = time.perf_counter()
    n = sum(len(labels) for _, labels in stream.epoch(1))
    seconds = time.perf_counter() - t0
    print(f"JPEG {'train' if train else 'eval '}: {n} images in {seconds:.2f} s = "
          f"{n / seconds:,.0f} images/s with {args.threads} threads, {args.workers} workers")
    if train and prepared_rate:
      print(f"prepared / JPEG training feed: {prepared_rate / (n / seconds):.1f}x")


def make_tree(root, n, rng, distinct=1000):
  """n JPEG files in root/train/<class>/ (10 classes) and 10 in root/val/; `distinct`
  different images, repeated (decoding costs the same)."""
  images = [jpeg(rng) for _ in range(min(n, distinct))]
  for split, count in (("train", n), ("val", 10)):
    for i in range(count):
      folder = os.path.join(root, split, f"class{i % 10}")
      os.makedirs(folder, exist_ok=True)
      path = os.path.join(folder, f"{i:06d}.JPEG")
      if not os.path.exists(path):
        with open(path, "wb") as f:
          f.write(images[i % len(images)])


PUTS = 40  # times one batch is put on the device to time the copy alone


def _rate(batches, count_of, sync=lambda x: x):
  """images/s over `batches` after the first (warm-up) batch."""
  it = iter(batches)
  sync(next(it))
  t0, n = time.perf_counter(), 0
  for b in it:
    sync(b)
    n += count_of(b)
  return n / (time.perf_counter() - t0), n


def prepared_figures(args):
  sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", ".."))  # for configs/
  import jax
  import jax.numpy as jnp
  from configs import alexnet
  from lenet_jax import data
  from lenet_jax.data import crops, device_prefetch, prepared
  from lenet_jax.data import prepare as preparation
  tree, out = os.path.join(args.dir, "tree"), os.path.join(args.dir, "prepared")
  make_tree(tree, args.prepared, np.random.default_rng(1))
  config = alexnet.get_config("data=imagenette")
  config.data.source, config.data.dir = "folder", tree
  spec, _ = data.validate(config.data)
  ahead = config.data.device_prefetch  # training's
  cores = os.cpu_count()
  t0 = time.perf_counter()
  reused = args.reuse and os.path.isfile(os.path.join(out, preparation.MANIFEST))
  if not args.reuse:
    shutil.rmtree(out, ignore_errors=True)
  # With --reuse, a finished preparation of the same tree is found finished and kept.
  manifest = preparation.prepare(config.data, spec, out, "benchmark", workers=cores)
  seconds = time.perf_counter() - t0
  n = sum(s["size"] for s in manifest["splits"].values())
  if reused:
    print(f"prepare: reused the prepared set of {n} images in {out}")
  else:
    size = sum(os.path.getsize(os.path.join(base, f)) for base, _, files in os.walk(out)
               for f in files) / n
    print(f"prepare: {n} JPEGs (500x375) in {seconds:.1f} s = {n / seconds:,.0f} images/s on "
          f"{cores} cores ({n / seconds / cores:,.0f} per core); {size:,.0f} bytes per image "
          "on disk")
  split = prepared.PreparedSplit(out, "train")
  stream = prepared.PreparedStream(split, args.batch, train=True, seed=0,
                                   threads=args.read_threads)
  list(stream.epoch(0))  # the page cache warm, as from the second epoch of a run
  host, n = _rate(stream.epoch(3), lambda b: len(b[1]))
  print(f"prepared, host batches only (memory maps, grain, {stream.threads} threads): {n} "
        f"images, {host:,.0f} images/s")
  # The copy alone: one batch as read (a 64-byte aligned buffer) put again and again,
  # each waited for. A CPU device may take an aligned buffer without copying it.
  images = next(stream.epoch(5))[0]
  put, n = _rate((jax.device_put(images) for _ in range(PUTS + 1)), lambda b: b.shape[0],
                 jax.block_until_ready)
  print(f"one batch put on the device {PUTS} times, each waited for (the copy alone): "
        f"{put:,.0f} images/s, {put * images[0].nbytes / 1e9:,.1f} GB/s")
  rate, n = _rate((jax.device_put(x) for x in stream.epoch(1)), lambda b: len(b[1]),
                  jax.block_until_ready)
  print(f"prepared, to the device in the loop (uint8 {split.shape}): {n} images, "
        f"{rate:,.0f} images/s")
  rate_ahead, n = _rate(device_prefetch.placed(stream.epoch(4), jax.device_put, ahead),
                        lambda b: len(b[1]), jax.block_until_ready)
  print(f"prepared, to the device {ahead} batches ahead in a thread (as "
        f"training): {n} images, {rate_ahead:,.0f} images/s")
  mean = jnp.asarray(spec.mean, jnp.float32)

  @jax.jit
  def augment(key, images):
    k1, k2 = jax.random.split(key)
    x = crops.random_crop_flip(k1, images, 227).astype(jnp.float32) / 255.0
    return (streaming.pca_lighting(k2, x) - mean) * 255.0

  keys = iter(jax.random.split(jax.random.key(0), stream.num_batches + 1))
  augmented = (augment(next(keys), jax.device_put(b[0])) for b in stream.epoch(2))
  rate_aug, n = _rate(augmented, lambda b: b.shape[0], jax.block_until_ready)
  print(f"prepared, to the device with its augmentation run there ({jax.devices()[0].platform}):"
        f" {n} images, {rate_aug:,.0f} images/s")
  if args.skip_array_record:
    return rate
  rate_ar = array_record_rate(split, args, os.path.join(args.dir, "array_record"))
  print(f"array_record, host batches only (one file, grain ArrayRecordDataSource, shuffle, "
        f"batch): {rate_ar:,.0f} images/s")
  return rate


def array_record_rate(split, args, directory):
  import grain
  from array_record.python import array_record_module
  os.makedirs(directory, exist_ok=True)
  path = os.path.join(directory, "train.array_record")
  if not os.path.exists(path):
    writer = array_record_module.ArrayRecordWriter(path + ".tmp", "group_size:1")
    for start in range(0, len(split), 1024):
      images, _ = split.read(np.arange(start, min(start + 1024, len(split))))
      for image in images:
        writer.write(image.tobytes())
    writer.close()
    os.replace(path + ".tmp", path)
  source = grain.sources.ArrayRecordDataSource([path])
  shape = split.shape

  def decode(record):
    return np.frombuffer(record, np.uint8).reshape(shape)

  ds = (grain.MapDataset.source(source).shuffle(seed=0).map(decode)
        .batch(args.batch, drop_remainder=True))
  for _ in ds[:2]:  # warm the page cache
    pass
  ds = ds.to_iter_dataset(grain.ReadOptions(num_threads=4, prefetch_buffer_size=256))
  rate, _ = _rate(ds, len)
  return rate


if __name__ == "__main__":
  main()

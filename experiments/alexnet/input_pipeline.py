"""Throughput of the streaming input (lenet_jax.data.streaming) on this machine.

  python experiments/alexnet/input_pipeline.py [--images 512] [--threads 2] [--workers 0] [--batch 128]

The source is an in-memory list of JPEG-encoded 500x375 images (ImageNet's
typical size) made from smoothed noise, so the figure is the host-side cost of
decode + resize + crop + flip + batching, without disk reads.
"""

import argparse
import io
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
  args = parser.parse_args()
  flags.FLAGS.mark_as_parsed()  # grain's worker processes read absl flags
  rng = np.random.default_rng(0)
  source = [{"image": jpeg(rng), "label": i % 1000} for i in range(args.images)]
  for train in (True, False):
    stream = streaming.Stream(source, args.batch, train=train, seed=0, threads=args.threads,
                              workers=args.workers)
    t0 = time.perf_counter()
    n = sum(len(labels) for _, labels in stream.epoch(1))
    seconds = time.perf_counter() - t0
    print(f"{'train' if train else 'eval '}: {n} images in {seconds:.2f} s = "
          f"{n / seconds:,.0f} images/s with {args.threads} threads, {args.workers} workers")


if __name__ == "__main__":
  main()

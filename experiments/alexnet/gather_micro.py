"""The gather behind a prepared batch, alone: 256 random rows of a memory-mapped file of
256x256x3 uint8 images into one batch, four ways, one thread, 2 s each, twice.

  python experiments/alexnet/gather_micro.py [--path /tmp/gather_micro.images]

fancy: out[:] = maps[rows] (a temporary, then a copy: the reading before 2026-11-28);
take raise: np.take(maps, rows, out=out) (mode='raise' copies through a buffer too);
take clip, reused: np.take(..., out=out, mode='clip') into the same batch each time;
take clip, fresh: the same into a new aligned batch each time (pages mapped and zeroed).
"""

import argparse
import os
import time

import numpy as np

from lenet_jax.data import batch_buffers

SHAPE, N, BATCH = (256, 256, 3), 8192, 256


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument("--path", default="/tmp/gather_micro.images")
  args = parser.parse_args()
  if not os.path.exists(args.path):
    np.random.default_rng(0).integers(0, 256, (N,) + SHAPE, np.uint8).tofile(args.path)
  maps = np.memmap(args.path, np.uint8, "r", shape=(N,) + SHAPE)
  reused = batch_buffers.aligned((BATCH,) + SHAPE)
  ways = {
      "fancy": lambda rows: reused.__setitem__(slice(None), maps[rows]),
      "take raise": lambda rows: np.take(maps, rows, axis=0, out=reused),
      "take clip, reused": lambda rows: np.take(maps, rows, axis=0, out=reused, mode="clip"),
      "take clip, fresh": lambda rows: np.take(maps, rows, axis=0, mode="clip",
                                               out=batch_buffers.aligned((BATCH,) + SHAPE)),
  }
  rng = np.random.default_rng(1)
  for repeat in (1, 2):
    for name, gather in ways.items():
      t0, batches = time.perf_counter(), 0
      while time.perf_counter() - t0 < 2:
        gather(np.sort(rng.choice(N, BATCH, replace=False)))
        batches += 1
      print(f"run {repeat}  {name:18s} {batches * BATCH / (time.perf_counter() - t0):9,.0f} "
            "images/s")


if __name__ == "__main__":
  main()

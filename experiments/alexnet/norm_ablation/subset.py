"""A reduced Fashion-MNIST for the CPU-sized AlexNet sweeps: the first N training images
(of the official 60,000) and the whole official test split, as IDX files.

  python experiments/alexnet/norm_ablation/subset.py --source /usr/share/datasets/fashion-mnist \
      --train 10000 --out .devdata/fashion10k

Debian's dataset-fashion-mnist package holds the IDX files (apt-get download
dataset-fashion-mnist && dpkg -x ...). The first N images keep the classes about
balanced (printed).
"""

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", ".."))
from lenet_jax.data import idx  # noqa: E402


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--source", required=True)
  parser.add_argument("--train", type=int, default=10000)
  parser.add_argument("--out", required=True)
  args = parser.parse_args()
  os.makedirs(args.out, exist_ok=True)
  images, labels = idx.load_split(args.source, "train")
  test_images, test_labels = idx.load_split(args.source, "test")
  splits = {"train": (images[:args.train], labels[:args.train]),
            "test": (test_images, test_labels)}
  for split, (x, y) in splits.items():
    image_name, label_name = idx.FILES[split]
    idx.write(os.path.join(args.out, image_name + ".gz"), x[..., 0])
    idx.write(os.path.join(args.out, label_name + ".gz"), y.astype(np.uint8))
    print(f"{split}: {len(y)} images, per class {np.bincount(y, minlength=10).tolist()}")


if __name__ == "__main__":
  main()

"""PyTorch's LocalResponseNorm on fixed inputs, for tests/models/test_alexnet_deviations.py:
PyTorch divides alpha by the window size, as Caffe and the 2012 code do, and takes k as
given, so its (size=5, alpha=1e-4, beta=0.75, k=1) is Caffe's bvlc_alexnet LRN and its
k=2 the 2012 code's cmrnorm (within one tower's maps).

  /path/to/venv-with-torch/bin/python experiments/alexnet/deviations/make_lrn_reference.py

Writes tests/models/lrn_torch_reference.npz (a few kB): inputs drawn with numpy (seed 0,
NHWC, two towers' worth of maps) and torch.nn.LocalResponseNorm's outputs for k = 1 and
k = 2, computed in float64 on the NCHW transpose.
"""

import os

import numpy as np
import torch

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "tests",
                   "models", "lrn_torch_reference.npz")


def main():
  x = np.random.default_rng(0).normal(0.0, 30.0, (2, 3, 3, 16))  # large: the sum matters
  outputs = {}
  for k in (1.0, 2.0):
    norm = torch.nn.LocalResponseNorm(size=5, alpha=1e-4, beta=0.75, k=k)
    y = norm(torch.from_numpy(x.transpose(0, 3, 1, 2)).double()).numpy().transpose(0, 2, 3, 1)
    outputs[f"k{int(k)}"] = y
  np.savez(OUT, x=x, torch_version=np.array(torch.__version__), **outputs)
  print(f"wrote {os.path.normpath(OUT)} with torch {torch.__version__}")


if __name__ == "__main__":
  main()

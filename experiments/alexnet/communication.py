"""Bytes that cross between devices per training step: AlexNet's two-tower split
against plain data parallelism over 2 devices, computed from the model's shapes.

  python experiments/alexnet/communication.py [--batch 128] [--bytes 4]

Arithmetic, not a measurement: the model is built shapes-only (nothing drawn). Prints
the table of experiments/alexnet/README.md, then the ratio, the same in bf16 and the
batch at which the two exchange the same bytes.
"""

import argparse
import os
import sys

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
from configs import alexnet as alexnet_config  # noqa: E402
from lenet_jax import models
from lenet_jax.models import alexnet
from lenet_jax.models.abstract import output_shape
from lenet_jax.models.alexnet import AlexNet


def exchanges() -> tuple[list[tuple[str, tuple, int]], int, int]:
  """([(what, one tower's shape per image, values)], parameters, fc6's and fc7's weights)
  of the two-tower net."""
  config = alexnet_config.get_config("data=synthetic")
  model = nnx.eval_shape(lambda: AlexNet(**alexnet.arguments(
      config.model, models.validate(config.model, 1000), (227, 227, 3), 1000), rngs=nnx.Rngs(0)))
  shapes = {}
  x = jax.ShapeDtypeStruct((1, 227, 227, 3), jnp.float32)
  for i, (name, _) in enumerate(model.stages()):
    x = output_shape(model, lambda m, y, i=i: m.stages()[i][1](y), x)
    shapes[name] = x.shape[1:]
  # What one tower sends the other, per image, where tower_forward all_gathers:
  # into conv3 (conv2's pooled maps), into fc6 (conv5's pooled maps), into fc7
  # and fc8 (fc6's and fc7's units), and the logits for the softmax.
  per_tower = {
      "conv2 maps -> conv3": shapes["conv2"],
      "conv5 maps -> fc6": shapes["conv5"],
      "fc6 -> fc7": shapes["fc6"],
      "fc7 -> fc8": shapes["fc7"],
      "fc8 logits -> softmax": shapes["fc8"],
  }
  rows = [(what, shape[:-1] + (shape[-1] // 2,), int(np.prod(shape)) // 2)
          for what, shape in per_tower.items()]
  params = sum(int(np.prod(p.shape)) for p in jax.tree.leaves(nnx.state(model, nnx.Param)))
  fc67 = sum(int(np.prod(getattr(model, name).kernel.shape)) for name in ("fc6", "fc7"))
  return rows, params, fc67


def split_bytes(values: int, batch: int, nbytes: int) -> int:
  """Both directions, forward and backward."""
  return 2 * 2 * values * batch * nbytes


def data_parallel_bytes(params: int, nbytes: int) -> int:
  """Ring all-reduce over 2 devices: each sends (n-1)/n of the gradients twice = all once."""
  return 2 * params * nbytes


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument("--batch", type=int, default=128)
  parser.add_argument("--bytes", type=int, default=4, help="bytes per value: 4 fp32, 2 bf16")
  args = parser.parse_args()
  rows, params, fc67 = exchanges()
  b, nbytes = args.batch, args.bytes
  total = sum(split_bytes(values, b, nbytes) for _, _, values in rows)
  data_parallel = data_parallel_bytes(params, nbytes)
  print(f"| exchange (two towers), batch {b}, {nbytes} bytes a value | per tower per image "
        "| values | bytes per step (fwd+bwd, both ways) |\n|---|---|---|---|")
  for what, shape, values in rows:
    print(f"| {what} | {'x'.join(map(str, shape))} | {values:,} | "
          f"{split_bytes(values, b, nbytes) / 1e6:,.1f} MB |")
  print(f"| **total, two-tower split** | | | **{total / 1e6:,.1f} MB** |")
  print(f"| **data parallel over 2 devices**: ring all-reduce of {params:,} gradients | | | "
        f"**{data_parallel / 1e6:,.1f} MB** |")
  per_image = total / b
  print(f"\nData parallelism moves {data_parallel / total:.1f}x the bytes of the tower split "
        f"at batch {b}; at half the bytes a value both halve "
        f"({total / 2e6:,.1f} MB against {data_parallel / 2e6:,.1f} MB). The split's bytes "
        f"grow with the batch, data parallelism's do not ({fc67 / 1e6:.1f}M of the "
        f"{params / 1e6:.1f}M gradients are fc6's and fc7's weights): the two move the same "
        f"bytes at batch {data_parallel / per_image:,.0f}.")


if __name__ == "__main__":
  main()

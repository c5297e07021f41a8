"""Bytes that cross between devices per training step: AlexNet's two-tower split
against plain data parallelism over 2 devices, computed from the model's shapes.

  python experiments/alexnet/communication.py [--batch 128] [--bytes 4]
"""

import argparse

import jax
import jax.numpy as jnp
from flax import nnx

from lenet_jax.models.alexnet import AlexNet


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument("--batch", type=int, default=128)
  parser.add_argument("--bytes", type=int, default=4, help="bytes per value: 4 fp32, 2 bf16")
  args = parser.parse_args()
  model = AlexNet(towers=2, rngs=nnx.Rngs(0))
  shapes = {}
  x = jax.ShapeDtypeStruct((1, 227, 227, 3), jnp.float32)
  for name, stage in model.stages():
    x = jax.eval_shape(stage, x)
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
  b, nbytes = args.batch, args.bytes
  rows = []
  total = 0
  for what, shape in per_tower.items():
    values = int(jnp.prod(jnp.array(shape))) // 2  # one tower's half
    step = 2 * 2 * values * b * nbytes  # both directions, forward and backward
    total += step
    rows.append((what, "x".join(map(str, shape[:-1] + (shape[-1] // 2,))), values, step))
  params = sum(p.size for p in jax.tree.leaves(nnx.state(model, nnx.Param)))
  # Ring all-reduce over 2 devices: each sends (n-1)/n of the gradients twice = all of them once.
  data_parallel = 2 * params * nbytes
  print(f"batch {b}, {nbytes} bytes per value\n")
  print("| exchange (two towers) | per tower per image | values | bytes per step (fwd+bwd, both ways) |")
  print("|---|---|---|---|")
  for what, shape, values, step in rows:
    print(f"| {what} | {shape} | {values:,} | {step / 1e6:,.1f} MB |")
  print(f"| **total, two-tower split** | | | **{total / 1e6:,.1f} MB** |")
  print(f"| **data parallel, 2 devices**: all-reduce of {params:,} gradients | | | "
        f"**{data_parallel / 1e6:,.1f} MB** |")
  print(f"\nratio: data parallelism moves {data_parallel / total:.1f}x the bytes of the tower split")


if __name__ == "__main__":
  main()

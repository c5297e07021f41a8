"""Interleaved A/B of LeNet-5 training-step variants on this CPU, in one process.

  python experiments/benchmarks/cpu_ab.py xla matmul matmul:c1=2 matmul:scan=1

Each variant is `implementation[:option=value,...]`: `c1=B` and `c3=B` set the
banded-matrix block widths of C1 and C3 (default: the largest divisor of the
output width <= 5, i.e. 4 and 5; C1 fused with S2 takes an even B), `scan=K`
the steps per dispatch (default: the config's auto, 20 for matmul and 1 for xla
on a CPU), `fuse=0` computes C1 and S2 in two steps (conv2d, then max_pool)
instead of one `conv_max_pool`. All variants are compiled first, then timed in
turn for `--rounds` rounds of `--steps` steps each; the median round is
printed, so that the load of other tenants on a shared machine, which changes
from minute to minute, falls on every variant alike.
"""

import argparse
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)

import jax  # noqa: E402

from configs import lenet5  # noqa: E402
from lenet_jax.benchmarking import benchmark  # noqa: E402
from lenet_jax.models import matmul_ops  # noqa: E402


def build(variant, batch):
  implementation, _, options = variant.partition(":")
  options = dict(o.split("=") for o in options.split(",") if o) if options else {}
  config = lenet5.get_config()
  config.batch_size = batch
  config.model.implementation = implementation
  config.steps_per_scan = int(options.get("scan", 0))
  default_block, conv_max_pool = matmul_ops.default_block, matmul_ops.conv_max_pool
  blocks = {28: int(options.get("c1", 0)), 10: int(options.get("c3", 0))}
  matmul_ops.default_block = lambda w, k: blocks.get(w) or default_block(w, k)
  if options.get("fuse") == "0":
    matmul_ops.conv_max_pool = lambda x, kernel, bias: matmul_ops.max_pool(
        matmul_ops.conv2d(x, kernel, bias))
  elif blocks[28]:  # the fused C1+S2 takes its own (even) block width
    matmul_ops.conv_max_pool = lambda x, kernel, bias: conv_max_pool(x, kernel, bias,
                                                                     block=blocks[28])
  try:
    resolved, _, _, state, train_chunk = benchmark._setup(config, batch * 8)
    k = resolved.steps_per_scan
    args = benchmark.step_inputs(resolved.spec, batch, k)
    compiled = train_chunk.lower(state, *args).compile()
  finally:
    matmul_ops.default_block, matmul_ops.conv_max_pool = default_block, conv_max_pool
  return compiled, state, args, k


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("variants", nargs="+")
  parser.add_argument("--batch", type=int, default=128)
  parser.add_argument("--rounds", type=int, default=8)
  parser.add_argument("--steps", type=int, default=60)
  args = parser.parse_args()
  runs = {}
  for v in args.variants:
    compiled, state, inputs, k = build(v, args.batch)
    state, _, _ = compiled(state, *inputs)  # warm-up
    jax.block_until_ready(state)
    runs[v] = dict(compiled=compiled, state=state, inputs=inputs, k=k, times=[])
  for _ in range(args.rounds):
    for run in runs.values():
      dispatches = max(1, args.steps // run["k"])
      state = run["state"]
      t0 = time.perf_counter()
      for _ in range(dispatches):
        state, _, _ = run["compiled"](state, *run["inputs"])
      jax.block_until_ready(state)
      run["times"].append((time.perf_counter() - t0) / (dispatches * run["k"]))
      run["state"] = state
  print(f"batch {args.batch}, {jax.devices()[0].device_kind}, jax {jax.__version__}, "
        f"median of {args.rounds} interleaved rounds")
  for v, run in runs.items():
    t = sorted(run["times"])
    median = t[len(t) // 2]
    print(f"{v:28s} steps/dispatch {run['k']:3d}  {median * 1e3:6.2f} ms/step  "
          f"{args.batch / median:8,.0f} images/s  (best round {args.batch / t[0]:,.0f})")


if __name__ == "__main__":
  main()

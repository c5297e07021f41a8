r"""Training throughput of a config, measured the way the PyTorch anchor measures it
(lenet_jax/benchmarking/benchmark.py).

  python -m lenet_jax.benchmark --config=configs/lenet5.py --batch_size=128 --steps=300
  python -m lenet_jax.benchmark --config=configs/alexnet.py:data=synthetic --batch_size=256 \
      --config.model.dtype=bfloat16 --config.steps_per_scan=50  # AlexNet, on a GPU
  python -m lenet_jax.benchmark --config=configs/lenet5.py --mode=epoch   # the real input pipeline
  python -m lenet_jax.benchmark --config=configs/lenet5.py --profile_dir=/tmp/prof  # + time per XLA op

Prints one JSON line per measurement and a readable line on stderr.
"""

import json
import sys

from absl import flags

from lenet_jax.benchmarking import benchmark
from lenet_jax.training import profiling
from lenet_jax.config import cli


def main(argv):
  cli.begin(argv)
  f, config = flags.FLAGS, cli.config()
  if f.batch_size is not None:
    config.batch_size = f.batch_size
  record = benchmark.run(config, f.mode, f.steps, f.warmup, f.profile_dir)
  print(json.dumps(record), flush=True)
  print(benchmark.readable(record), file=sys.stderr, flush=True)
  if record.get("profile"):
    print(profiling.report(record["profile"], record["profiled_steps"], f.profile_dir),
          file=sys.stderr, flush=True)


def define_flags():
  flags.DEFINE_integer("batch_size", None, "Batch size (default: the config's).")
  flags.DEFINE_integer("steps", 100, "Timed training steps.")
  flags.DEFINE_integer("warmup", 10, "Untimed steps after compilation.")
  flags.DEFINE_enum("mode", "step", ["step", "epoch"], "What to time.")
  flags.DEFINE_string(
      "profile_dir", None, "Step mode: also trace a few steps with jax.profiler into this "
      "directory (Perfetto/TensorBoard) and print the time per XLA operation.")


if __name__ == "__main__":
  cli.run(main, define_flags, stop_anywhere="before the measurement ended; nothing was measured")

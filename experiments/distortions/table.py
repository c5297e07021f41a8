"""The table of experiments/distortions/README.md, from the runs run.sh made
(committed as <protocol>_<seed>.metrics.jsonl):

  python experiments/distortions/table.py

Per protocol: each seed's official test error at the last epoch (1 - its
test_accuracy), their mean ± sample std, and the range over the seeds of the
epochs' seconds summed.
"""

import os
import statistics

from lenet_jax.runs.metrics import read_jsonl

HERE = os.path.dirname(os.path.abspath(__file__))
SEEDS = (0, 1, 2)
PROTOCOLS = [("online", "online (ours)"), ("fixed", "fixed, 9 copies (the paper's)")]


def main():
  print("| protocol | " + " | ".join(f"seed {s}" for s in SEEDS)
        + " | final test error, mean ± std | epoch time summed |\n|"
        + "---|" * (len(SEEDS) + 3))
  for name, what in PROTOCOLS:
    errors, seconds = [], []
    for seed in SEEDS:
      path = os.path.join(HERE, f"{name}_{seed}.metrics.jsonl")
      records = read_jsonl(path)
      if not records:
        raise SystemExit(f"error: {path} is missing or empty: run run.sh and copy its "
                         "metrics.jsonl files here first")
      errors.append(100 * (1 - records[-1]["test_accuracy"]))
      seconds.append(sum(r["seconds"] for r in records))
    print(f"| {what} | " + " | ".join(f"{e:.2f}%" for e in errors)
          + f" | **{statistics.mean(errors):.2f} ± {statistics.stdev(errors):.2f}%** | "
          f"{min(seconds):.0f}-{max(seconds):.0f} s |")


if __name__ == "__main__":
  main()

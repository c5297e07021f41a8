"""Each ablation cell against the paper's configuration, from every seed's final test
error in results_seeds.csv: difference, the smallest difference 3 seeds a side could
detect, Welch's p and p adjusted by Holm's method for the four comparisons.

  python experiments/alexnet/ablations/significance.py

(lrn=none is left out: two of its three seeds never left chance.) The tests are
experiments/ablations/significance.py's.
"""

import csv
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "ablations"))
import significance as tests  # noqa: E402

COMPARED = ("activation=tanh", "towers=1,width=0.5", "pooling=nonoverlapping", "dropout=0")


def cells() -> dict:
  """{cell: (mean, sample std, seeds)} of the final test error %."""
  errors = {}
  with open(os.path.join(HERE, "results_seeds.csv")) as f:
    for row in csv.DictReader(f):
      errors.setdefault(row["cell"], []).append(float(row["final_test_error_pct"]))
  return {k: (float(np.mean(v)), float(np.std(v, ddof=1)), len(v)) for k, v in errors.items()}


def main():
  found = cells()
  base = found["base"]
  ps = [tests.welch(found[k], base) for k in COMPARED]
  print("| cell | difference | detectable | p | p (Holm, 4 comparisons) |\n|---|---|---|---|---|")
  for k, p, adjusted in zip(COMPARED, ps, tests.holm(ps)):
    print(f"| `{k}` | {found[k][0] - base[0]:+.2f} | {tests.detectable(found[k], base):.2f} | "
          f"{p:.2f} | {adjusted:.2f} |")


if __name__ == "__main__":
  main()

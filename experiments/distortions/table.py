"""The table of experiments/distortions/README.md, from the runs run.sh made
(committed as <protocol>_<seed>.metrics.jsonl):

  python experiments/distortions/table.py
  python experiments/distortions/table.py --claims   # the figures the README's prose quotes

Per protocol: each seed's official test error at the last epoch (1 - its
test_accuracy), their mean ± sample std, and the range over the seeds of the
epochs' seconds summed.
"""

import json
import os
import statistics
import sys

from scipy import stats


HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "ablations"))
import significance  # noqa: E402  (the detectable difference)

SEEDS = (0, 1, 2)
PROTOCOLS = [("online", "online (ours)"), ("fixed", "fixed, 9 copies (the paper's)")]


def read_jsonl(path: str) -> list[dict]:
  """The JSON objects of a stored JSON-lines file, or [] when it does not exist."""
  if not os.path.exists(path):
    return []
  with open(path) as f:
    return [json.loads(line) for line in f if line.strip()]


def runs(name):
  """(final official test error %, epochs' seconds summed) of each seed of a protocol."""
  errors, seconds = [], []
  for seed in SEEDS:
    path = os.path.join(HERE, f"{name}_{seed}.metrics.jsonl")
    records = read_jsonl(path)
    if not records:
      raise SystemExit(f"error: {path} is missing or empty: run run.sh and copy its "
                       "metrics.jsonl files here first")
    errors.append(100 * (1 - records[-1]["test_accuracy"]))
    seconds.append(sum(r["seconds"] for r in records))
  return errors, seconds


def claims():
  (online, _), (fixed, _) = (runs(name) for name, _ in PROTOCOLS)
  p = stats.ttest_ind(online, fixed, equal_var=False).pvalue
  cells = [(statistics.mean(e), statistics.stdev(e), len(e)) for e in (online, fixed)]
  print(f"{statistics.mean(fixed) - statistics.mean(online):.2f} points, p = {p:.2f}; "
        f"3 seeds a side could detect {significance.detectable(*cells):.2f} points")


def main():
  if sys.argv[1:] == ["--claims"]:
    return claims()
  print("| protocol | " + " | ".join(f"seed {s}" for s in SEEDS)
        + " | final test error, mean ± std | epoch time summed |\n|"
        + "---|" * (len(SEEDS) + 3))
  for name, what in PROTOCOLS:
    errors, seconds = runs(name)
    print(f"| {what} | " + " | ".join(f"{e:.2f}%" for e in errors)
          + f" | **{statistics.mean(errors):.2f} ± {statistics.stdev(errors):.2f}%** | "
          f"{min(seconds):.0f}-{max(seconds):.0f} s |")


if __name__ == "__main__":
  main()

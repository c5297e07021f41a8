"""The table of experiments/alexnet/ablations/README.md, and the figures its prose quotes,
from the stored sweep:

  python experiments/alexnet/ablations/table.py           # the table
  python experiments/alexnet/ablations/table.py --claims  # phrases the README must hold

Per cell: the final test error, mean ± sample std over the seeds (results_seeds.csv); the
difference from the paper's configuration, the smallest difference 3 seeds a side could
detect, Welch's p and p adjusted by Holm's method for the four comparisons
(significance.py; lrn=none is left out: two of its three seeds never left chance); the
seeds' mean training error in epoch 1 (each seed's metrics.jsonl, 1 - train_accuracy) and
epoch 5 (results_seeds.csv). Training accuracy is measured as the network trains: with
dropout on, averaged over the epoch's steps.
"""

import csv
import importlib.util
import json
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))


def _load(name, path):
  spec = importlib.util.spec_from_file_location(name, os.path.join(HERE, path))
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


# experiments/ablations/significance.py's tests, and this sweep's cells and comparisons
tests = _load("ablation_tests", os.path.join("..", "..", "ablations", "significance.py"))
significance = _load("alexnet_significance", "significance.py")
# (cell, how the table names it, the paper's claim)
ROWS = [
    ("base", "paper configuration (ReLU, LRN, overlapping pools, dropout 0.5, two towers)", ""),
    ("activation=tanh", "`activation=tanh`",
     "§3.1, Fig. 1: ReLUs reach 25% training error on CIFAR-10 six times faster than tanh"),
    ("towers=1,width=0.5", "`towers=1, width=0.5` (one GPU, half the kernels in conv1-4)",
     "§3.2: two towers beat it by 1.7% top-1 / 1.2% top-5"),
    ("lrn=none", "`lrn=none`", "§3.3: LRN lowers top-1 / top-5 error by 1.4% / 1.2%"),
    ("pooling=nonoverlapping", "`pooling=nonoverlapping` (2x2, stride 2)",
     "§3.4: overlapping pooling lowers the errors by 0.4% / 0.3%"),
    ("dropout=0", "`dropout=0`", "§4.2: without dropout the network overfits substantially"),
]
CHANCE = 50.0  # a seed whose final test error is above this never trained


def seeds() -> dict:
  """{cell: [row of results_seeds.csv]} in seed order."""
  found = {}
  with open(os.path.join(HERE, "results_seeds.csv")) as f:
    for row in csv.DictReader(f):
      found.setdefault(row["cell"], []).append(row)
  return found


def epochs(cell: str, seed: str) -> list[dict]:
  with open(os.path.join(HERE, cell, f"seed_{seed}", "metrics.jsonl")) as f:
    return [json.loads(line) for line in f if line.strip()]


def params() -> dict:
  with open(os.path.join(HERE, "results.csv")) as f:
    return {row["cell"]: int(row["params"]) for row in csv.DictReader(f)}


def summary():
  """{cell: dict of the table's figures}."""
  cells, rows = significance.cells(), seeds()
  base = cells["base"]
  ps = [tests.welch(cells[k], base) for k in significance.COMPARED]
  found = {}
  for cell, _, _ in ROWS:
    runs = rows[cell]
    test = [float(r["final_test_error_pct"]) for r in runs]
    first = [100 * (1 - epochs(cell, r["seed"])[0]["train_accuracy"]) for r in runs]
    last = [float(r["final_train_error_pct"]) for r in runs]
    found[cell] = {"test": test, "train_first": first, "train_last": last,
                   "top5": [float(r["final_test_top5_error_pct"]) for r in runs],
                   "before_last": [100 * (1 - epochs(cell, r["seed"])[-2]["test_accuracy"])
                                   for r in runs]}
  for k, p, adjusted in zip(significance.COMPARED, ps, tests.holm(ps)):
    found[k].update(difference=cells[k][0] - base[0], p=p, holm=adjusted,
                    detectable=tests.detectable(cells[k], base))
  return found


def table():
  found, counts = summary(), params()
  print("| cell | test error % | vs paper config | detectable | p | p (Holm, 4 comparisons) "
        "| training error, epoch 1 / 5 (as trained, with the cell's dropout) | the paper's claim (ImageNet) "
        "|\n|---|---|---|---|---|---|---|---|")
  for cell, what, claim in ROWS:
    f = found[cell]
    if cell == "towers=1,width=0.5":
      what += f"; {counts[cell]:,} parameters with 10 classes"
    error = f"{np.mean(f['test']):.2f} ± {np.std(f['test'], ddof=1):.2f}"
    if cell == "base":
      error = f"**{error}**"
    if any(e > CHANCE for e in f["test"]):
      error += " (seeds: " + ", ".join(f"{e:.2f}" for e in f["test"]) + ")"
      tested = "see text | | | "
      train = "see text"
    else:
      tested = ("| | | " if "p" not in f else
                f"{f['difference']:+.2f} | {f['detectable']:.2f} | {f['p']:.2f} | "
                f"{f['holm']:.2f} ")
      train = f"{np.mean(f['train_first']):.2f}% / {np.mean(f['train_last']):.2f}%"
    if cell == "base":
      tested = "| | | "
    print(f"| {what} | {error} | {tested}| {train} | {claim} |")
  print("| PCA lighting off | not run | | | | | | §4.1: about 1% top-1 |")


def claims():
  found = summary()
  trained = [(cell, i) for cell, f in found.items() for i, e in enumerate(f["test"])
             if e <= CHANCE]
  top5 = [found[c]["top5"][i] for c, i in trained]
  moved = max(abs(found[c]["test"][i] - found[c]["before_last"][i]) for c, i in trained)
  print(f"{min(top5):.2f}-{max(top5):.2f}% for every seed that trained")
  print(f"changes by at most {moved:.2f} points over the last epoch")
  base, tanh, drop = found["base"], found["activation=tanh"], found["dropout=0"]
  print(f"mean training error over epoch 1: {np.mean(tanh['train_first']):.1f}% against "
        f"{np.mean(base['train_first']):.1f}%; epoch 5: {np.mean(tanh['train_last']):.1f}% "
        f"against {np.mean(base['train_last']):.1f}%")
  print(f"{np.mean(drop['train_last']):.2f}% without dropout against "
        f"{np.mean(base['train_last']):.2f}% with it")
  print(f"{-drop['difference']:.2f} points lower")
  lrn = found["lrn=none"]["test"]
  dead = [i for i, e in enumerate(lrn) if e > CHANCE]
  alive = [e for e in lrn if e <= CHANCE]
  print(f"seeds {' and '.join(str(i) for i in dead)} sat at chance")
  print(f"trained to {alive[0]:.2f}%, {alive[0] - np.mean(base['test']):.1f} points worse than "
        "with LRN")
  detectable = [found[k]["detectable"] for k in significance.COMPARED]
  print(f"3 seeds a side could detect {min(detectable):.2f}-{max(detectable):.2f} points")
  for k in significance.COMPARED:
    f = found[k]
    print(f"optional: `{k}`: {f['difference']:+.2f} points, p = {f['p']:.2f}, Holm "
          f"{f['holm']:.2f}")
    print(f"optional: `{k}`: {f['difference']:+.2f} points, p = {f['p']:.2f}, Holm "
          f"{f['holm']:.2f}, detectable {f['detectable']:.2f}")


if __name__ == "__main__":
  claims() if sys.argv[1:] == ["--claims"] else table()

"""The table of a CPU-sized AlexNet sweep, from the sweep as stored (results_seeds.csv and
results.csv beside each other):

  python experiments/alexnet/sweep_table.py experiments/alexnet/norm_ablation norm=lrn
  python experiments/alexnet/sweep_table.py experiments/alexnet/deviations/sweep init=he \
      --pair init_std=0.01-0.01-0.03-0.03-0.03-0.01-0.01-0.01 base
  ... --claims   # the phrases the README must hold (those after `optional: ` it may)

Per cell: the final test error, mean ± sample std over its seeds; against the cell it is
compared with (the positional reference, or the one `--pair` names): the difference, the
smallest difference the seeds could detect (two-sided, 5%, power 0.8), Welch's p and p
adjusted by Holm's method over all the sweep's comparisons; the same three for the
comparison by seed (a paired t-test on the seeds' differences: seed k of every cell draws
the same data order and dropout masks, and the same initial weights where the shapes
agree, so a difference between cells that is shared by the seeds shows there even when
the seeds' spread hides it); the final training error (as trained: with the cell's
dropout, averaged over the last epoch's steps) and the number of parameters. A cell with a seed above chance (a seed that never trained) is shown seed by
seed and left out of the tests. The tests are experiments/ablations/significance.py's.
"""

import argparse
import csv
import importlib.util
import os

import numpy as np
from scipy import stats

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CHANCE = 50.0  # % test error; a seed above it never trained (10 classes: chance is 90%)


def _tests():
  path = os.path.join(ROOT, "experiments", "ablations", "significance.py")
  spec = importlib.util.spec_from_file_location("ablation_tests", path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def read(folder: str) -> tuple[dict, dict]:
  """({cell: {'test': [...], 'train': [...]}} in the sweep's order, {cell: results.csv row})."""
  seeds = {}
  with open(os.path.join(folder, "results_seeds.csv")) as f:
    for row in csv.DictReader(f):
      cell = seeds.setdefault(row["cell"], {"test": [], "train": [], "seed": []})
      cell["seed"].append(int(row["seed"]))
      cell["test"].append(float(row["final_test_error_pct"]))
      cell["train"].append(float(row["final_train_error_pct"]))
  with open(os.path.join(folder, "results.csv")) as f:
    rows = {row["cell"]: row for row in csv.DictReader(f)}
  return seeds, rows


def trained(errors: list[float]) -> bool:
  return all(e <= CHANCE for e in errors)


def compare(seeds: dict, reference: str, pairs: list) -> dict:
  """{cell: {'against', 'difference', 'detectable', 'p', 'holm'}} for every cell compared
  (every cell but the references, each against `reference` unless `pairs` names another),
  where both cells trained."""
  tests = _tests()
  against = {cell: reference for cell in seeds}
  against.update({cell: other for cell, other in pairs})
  references = set(against[c] for c in against)
  compared = [c for c in seeds if c not in references and trained(seeds[c]["test"])
              and trained(seeds[against[c]]["test"])]
  stats = {c: (float(np.mean(v["test"])), float(np.std(v["test"], ddof=1)), len(v["test"]))
           for c, v in seeds.items()}
  ps = [tests.welch(stats[c], stats[against[c]]) for c in compared]
  by_seed = [_by_seed(seeds[c], seeds[against[c]]) for c in compared]
  paired_holm = tests.holm([b[1] for b in by_seed])
  return {c: {"against": against[c], "difference": stats[c][0] - stats[against[c]][0],
              "detectable": tests.detectable(stats[c], stats[against[c]]), "p": p,
              "holm": adjusted, "paired_detectable": b[0], "paired_p": b[1],
              "paired_holm": b_holm}
          for c, p, adjusted, b, b_holm in zip(compared, ps, tests.holm(ps), by_seed,
                                               paired_holm)}


def _by_seed(cell: dict, reference: dict, alpha=0.05, power=0.8) -> tuple[float, float]:
  """(detectable difference, p) of the paired t-test on seed k's difference, k shared."""
  if cell["seed"] != reference["seed"]:
    raise SystemExit("error: two cells compared by seed hold different seeds")
  d = np.array(cell["test"]) - np.array(reference["test"])
  n = len(d)
  se = float(np.std(d, ddof=1)) / np.sqrt(n)
  t = stats.t
  p = float(t.sf(abs(d.mean()) / se, n - 1) * 2) if se > 0 else 0.0
  return float((t.ppf(1 - alpha / 2, n - 1) + t.ppf(power, n - 1)) * se), p


def _p(p: float) -> str:
  return f"{p:.2f}" if p >= 0.01 else f"{p:.1g}"


def table(seeds: dict, rows: dict, found: dict) -> None:
  n = len(found)
  print(f"| cell | test error % | against | difference | detectable | p | p (Holm, {n}) "
        f"| by seed: detectable | p | p (Holm, {n}) | training error % | parameters |\n"
        "|---|---|---|---|---|---|---|---|---|---|---|---|")
  for cell, v in seeds.items():
    test = v["test"]
    error = f"{np.mean(test):.2f} ± {np.std(test, ddof=1):.2f}"
    if not trained(test):
      error += " (seeds: " + ", ".join(f"{e:.2f}" for e in test) + ")"
    if cell in found:
      f = found[cell]
      tested = (f"`{f['against']}` | {f['difference']:+.2f} | {f['detectable']:.2f} | "
                f"{_p(f['p'])} | {_p(f['holm'])} | {f['paired_detectable']:.2f} | "
                f"{_p(f['paired_p'])} | {_p(f['paired_holm'])}")
    else:
      tested = " | | | | | | | "
    print(f"| `{cell}` | {error} | {tested} | {np.mean(v['train']):.2f} | "
          f"{int(rows[cell]['params']):,} |")


def claims(seeds: dict, found: dict) -> None:
  for kind, what in (("", ""), ("paired_", " by seed")):
    significant = [c for c, f in found.items() if f[kind + "holm"] < 0.05]
    print(f"after Holm's adjustment, p < 0.05{what} for "
          + (", ".join(f"`{c}`" for c in significant) if significant else "no comparison"))
    detectable = [f[kind + "detectable"] for f in found.values()]
    if detectable:
      print(f"the seeds could detect{what} {min(detectable):.2f}-{max(detectable):.2f} points")
  for cell, v in seeds.items():
    print(f"optional: `{cell}`: {np.mean(v['test']):.2f} ± {np.std(v['test'], ddof=1):.2f}%")
  for cell, f in found.items():
    print(f"optional: `{cell}`: {f['difference']:+.2f} points, p = {_p(f['p'])}, Holm "
          f"{_p(f['holm'])}")
    print(f"optional: `{cell}`: {f['difference']:+.2f} points, p = {_p(f['p'])}, Holm "
          f"{_p(f['holm'])}, detectable {f['detectable']:.2f}")
    print(f"optional: `{cell}` by seed: p = {_p(f['paired_p'])}, Holm {_p(f['paired_holm'])}, "
          f"detectable {f['paired_detectable']:.2f}")


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("folder", help="the stored sweep (results_seeds.csv, results.csv)")
  parser.add_argument("reference", help="the cell every other is compared with")
  parser.add_argument("--pair", nargs=2, action="append", default=[],
                      metavar=("CELL", "REFERENCE"), help="compare CELL with REFERENCE instead")
  parser.add_argument("--claims", action="store_true")
  args = parser.parse_args()
  folder = os.path.join(ROOT, args.folder)
  seeds, rows = read(folder)
  for cell in [args.reference] + [c for pair in args.pair for c in pair]:
    if cell not in seeds:
      raise SystemExit(f"error: no cell {cell!r} in {args.folder} (cells: {', '.join(seeds)})")
  found = compare(seeds, args.reference, args.pair)
  claims(seeds, found) if args.claims else table(seeds, rows, found)


if __name__ == "__main__":
  main()

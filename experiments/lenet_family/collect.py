"""Collects the runs of run.sh and moonshot.sh into this directory's records.

  python experiments/lenet_family/collect.py RUNS_DIR
  python experiments/lenet_family/collect.py --table   # results.md's table from results_seeds.csv

Writes results_seeds.csv (one row per run and seed: the last epoch's official test
error, never the best epoch's), results.md (mean ± sample std over the seeds, with
Welch's t-tests against LeNet-5), metrics/<run>.jsonl (every epoch of every run,
boosted members included) and the committees' JSON files.
"""

import csv
import json
import os
import re
import shutil
import statistics
import sys

from scipy import stats

HERE = os.path.dirname(os.path.abspath(__file__))
# (row name, run prefix, what it is, the paper's test error with 60,000 training digits)
ROWS = [
    ("LeNet-1", "lenet1", "configs/lenet1.py", "1.7%"),
    ("LeNet-1, 1998 units", "lenet1_paper", "configs/lenet1.py:paper", "1.7%"),
    ("LeNet-4", "lenet4", "configs/lenet4.py", "1.1%"),
    ("LeNet-4, 1998 units", "lenet4_paper", "configs/lenet4.py:paper", "1.1%"),
    ("LeNet-4, affine distortions", "lenet4_distorted", "configs/lenet4.py + distortions", ""),
    ("3 LeNet-4s, outputs added (no filtering)", "committee_lenet4", "controls.sh", ""),
    ("3 LeNet-4s with distortions, outputs added", "committee_lenet4_distorted", "controls.sh",
     ""),
    ("boosted LeNet-4", "lenet4_boosted", "configs/lenet4_boosted.py", "0.7%"),
    ("boosted LeNet-4, members trained with distortions",
     "lenet4_boosted_distorted", "configs/lenet4_boosted.py + distortions", ""),
    ("LeNet-5", "lenet5", "configs/lenet5.py", "0.95%"),
    ("LeNet-5, affine distortions", "lenet5_distorted", "configs/lenet5.py + distortions",
     "0.8%"),
    ("LeNet-5, affine + elastic distortions", "elastic", "moonshot.sh", ""),
    ("LeNet-5, affine + elastic, 150 epochs", "elastic150", "moonshot.sh", ""),
    ("the five 150-epoch nets above, outputs added", "committee_elastic150", "moonshot.sh", ""),
]


def last_record(workdir):
  with open(os.path.join(workdir, "metrics.jsonl")) as f:
    records = [json.loads(line) for line in f if line.strip()]
  return records[-1], sum(r["seconds"] for r in records)


def runs_of(runs_dir, prefix):
  pattern = re.compile(rf"^{re.escape(prefix)}_(\d+)(\.json)?$")
  found = []
  for name in sorted(os.listdir(runs_dir)):
    match = pattern.match(name)
    if match:
      found.append((int(match.group(1)), os.path.join(runs_dir, name)))
  return sorted(found)


def collect(runs_dir):
  rows = []
  os.makedirs(os.path.join(HERE, "metrics"), exist_ok=True)
  for row, prefix, config, _ in ROWS:
    for seed, workdir in runs_of(runs_dir, prefix):
      if prefix.startswith("committee_"):
        with open(workdir) as f:
          committee = json.load(f)
        shutil.copy(workdir, os.path.join(HERE, "metrics", os.path.basename(workdir)))
        rows.append({"network": row, "seed": seed, "epochs": 50,
                     "test_error_pct": round(100 * committee["committee_test_error"], 2),
                     "seconds": 0.0})
        continue
      if prefix.startswith("lenet4_boosted"):
        path = os.path.join(workdir, "committee.json")
        if not os.path.isfile(path):
          continue
        with open(path) as f:
          committee = json.load(f)
        shutil.copy(path, os.path.join(HERE, "metrics", f"{prefix}_{seed}.committee.json"))
        seconds = 0.0
        for k, error in enumerate(committee["member_test_errors"], 1):
          member = os.path.join(workdir, f"member_{k}")
          record, spent = last_record(member)
          seconds += spent
          shutil.copy(os.path.join(member, "metrics.jsonl"),
                      os.path.join(HERE, "metrics", f"{prefix}_{seed}.member_{k}.jsonl"))
          rows.append({"network": f"{row}: member {k}", "seed": seed,
                       "epochs": record["epoch"], "test_error_pct": round(100 * error, 2),
                       "seconds": round(spent, 1)})
        rows.append({"network": f"{row}: committee", "seed": seed, "epochs": record["epoch"],
                     "test_error_pct": round(100 * committee["committee_test_error"], 2),
                     "seconds": round(seconds, 1)})
        continue
      if not os.path.isfile(os.path.join(workdir, "metrics.jsonl")):
        continue
      record, seconds = last_record(workdir)
      shutil.copy(os.path.join(workdir, "metrics.jsonl"),
                  os.path.join(HERE, "metrics", f"{prefix}_{seed}.jsonl"))
      rows.append({"network": row, "seed": seed, "epochs": record["epoch"],
                   "test_error_pct": round(100 * (1 - record["test_accuracy"]), 2),
                   "seconds": round(seconds, 1)})
  committee = os.path.join(runs_dir, "committee_elastic150.json")
  if os.path.isfile(committee):  # one committee of all the seeds' nets
    shutil.copy(committee, os.path.join(HERE, "metrics", "committee_elastic150.json"))
    with open(committee) as f:
      error = json.load(f)["committee_test_error"]
    rows.append({"network": ROWS[-1][0], "seed": "all", "epochs": 150,
                 "test_error_pct": round(100 * error, 2), "seconds": 0.0})
  return rows


def summary(rows):
  by_network = {}
  for r in rows:
    by_network.setdefault(r["network"], []).append(r["test_error_pct"])
  lines = ["| network | config | seeds | test error, mean ± std | per seed | the paper (60,000 "
           "digits) | against LeNet-5 (Welch's t-test) |", "|---|---|---|---|---|---|---|"]
  base = by_network.get("LeNet-5")
  order = []
  for name, *_ in ROWS:
    order += sorted(n for n in by_network if n.startswith(f"{name}: member"))
    order.append(f"{name}: committee" if f"{name}: committee" in by_network else name)
  configs = {r[0]: r[2] for r in ROWS}
  papers = {r[0]: r[3] for r in ROWS}
  papers["boosted LeNet-4: committee"] = papers.pop("boosted LeNet-4")
  for name in order:
    errors = by_network.get(name)
    if not errors:
      continue
    std = f" ± {statistics.stdev(errors):.2f}" if len(errors) > 1 else ""
    versus = ""
    if base and name != "LeNet-5" and len(errors) > 1 and len(base) > 1:
      t = stats.ttest_ind(errors, base, equal_var=False)
      versus = f"{statistics.mean(errors) - statistics.mean(base):+.2f} points, p = {t.pvalue:.2g}"
    lines.append(f"| {name} | {configs[name.split(': ')[0]]} | {len(errors)} | "
                 f"{statistics.mean(errors):.2f}{std}% | "
                 f"{', '.join(f'{e:.2f}' for e in errors)} | {papers.get(name, '')} | {versus} |")
  return "\n".join(lines)


def read_rows(path):
  """results_seeds.csv's rows, as collect() returns them."""
  with open(path) as f:
    return [dict(r, test_error_pct=float(r["test_error_pct"])) for r in csv.DictReader(f)]


def main():
  if sys.argv[1] == "--table":
    print(summary(read_rows(os.path.join(HERE, "results_seeds.csv"))))
    return
  rows = collect(sys.argv[1])
  with open(os.path.join(HERE, "results_seeds.csv"), "w", newline="") as f:
    writer = csv.DictWriter(f, fieldnames=["network", "seed", "epochs", "test_error_pct",
                                           "seconds"])
    writer.writeheader()
    writer.writerows(rows)
  table = summary(rows)
  with open(os.path.join(HERE, "results.md"), "w") as f:
    f.write(table + "\n")
  print(table)


if __name__ == "__main__":
  main()

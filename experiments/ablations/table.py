"""The two results tables of experiments/ablations/README.md, from the stored sweeps:

  python experiments/ablations/table.py ablations    # activation x subsampling
  python experiments/ablations/table.py c3_output    # C3 connections x output layer

Per cell: the CPU reruns' final test error, mean ± sample std over the seeds, computed
from every seed's value in <dataset>_<sweep>_cpu/results_seeds.csv (the lowest mean of
each dataset in bold in the first table), and the H100 runs' mean ± std as their
<dataset>_<sweep>/results.csv holds them (those runs kept no per-seed values).
"""

import csv
import os
import statistics
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
DATASETS = ("mnist", "fashion")
HEADERS = {
    "ablations": ("| activation | pooling | CPU: MNIST (4k embedded, 50 ep) "
                  "| CPU: Fashion-MNIST (60k, 30 ep) | H100: MNIST | H100: Fashion |\n"
                  "|---|---|---|---|---|---|"),
    "c3_output": ("| C3 | output | CPU: MNIST | CPU: Fashion-MNIST | H100: MNIST "
                  "| H100: Fashion | params |\n|---|---|---|---|---|---|---|"),
}


def rows(path):
  """The rows of a CSV file; one error line if it is not there."""
  if not os.path.isfile(path):
    raise SystemExit(f"error: {path} is missing: it is one of the stored sweeps' files")
  with open(path) as f:
    return list(csv.DictReader(f))


def knobs(row):
  return tuple(v for k, v in row.items() if k.startswith("model."))


def main():
  sweep = sys.argv[1] if len(sys.argv) > 1 else ""
  if sweep not in HEADERS:
    raise SystemExit(f"error: the sweep must be one of {', '.join(HEADERS)}, not {sweep!r}")
  order, params, cpu, h100 = [], {}, {}, {}
  for dataset in DATASETS:
    for row in rows(os.path.join(HERE, f"{dataset}_{sweep}", "results.csv")):
      if knobs(row) not in order:
        order.append(knobs(row))
      h100[dataset, knobs(row)] = (f"{float(row['test_error_pct_mean']):.2f} ± "
                                   f"{float(row['test_error_pct_std']):.2f}")
    for row in rows(os.path.join(HERE, f"{dataset}_{sweep}_cpu", "results.csv")):
      params[knobs(row)] = int(row["params"])
    seeds = {}
    for row in rows(os.path.join(HERE, f"{dataset}_{sweep}_cpu", "results_seeds.csv")):
      seeds.setdefault(knobs(row), []).append(float(row["final_test_error_pct"]))
    for key, errors in seeds.items():
      cpu[dataset, key] = (statistics.mean(errors), statistics.stdev(errors))
  best = {d: min((k for k in order if (d, k) in cpu), key=lambda k: cpu[d, k][0])
          for d in DATASETS}
  print(HEADERS[sweep])
  for key in order:
    cells = list(key)
    for dataset in DATASETS:
      mean, std = cpu[dataset, key]
      cell = f"{mean:.2f} ± {std:.2f}"
      cells.append(f"**{cell}**" if sweep == "ablations" and key == best[dataset] else cell)
    cells += [h100[dataset, key] for dataset in DATASETS]
    if sweep == "c3_output":
      cells.append(f"{params[key]:,}")
    print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
  main()

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
import sys

import significance  # the stored sweeps' readers, beside this file

HERE = os.path.dirname(os.path.abspath(__file__))
DATASETS = ("mnist", "fashion")
HEADERS = {
    "ablations": ("| activation | pooling | CPU: MNIST (4k embedded, 50 ep) "
                  "| CPU: Fashion-MNIST (60k, 30 ep) | H100: MNIST | H100: Fashion |\n"
                  "|---|---|---|---|---|---|"),
    "c3_output": ("| C3 | output | CPU: MNIST | CPU: Fashion-MNIST | H100: MNIST "
                  "| H100: Fashion | params |\n|---|---|---|---|---|---|---|"),
}


def params(sweep):
  """{knob values: parameters} from the MNIST CPU rerun's results.csv."""
  with open(os.path.join(HERE, f"mnist_{sweep}_cpu", "results.csv")) as f:
    return {tuple(v for k, v in row.items() if k.startswith("model.")): int(row["params"])
            for row in csv.DictReader(f)}


def main():
  sweep = sys.argv[1] if len(sys.argv) > 1 else ""
  if sweep not in HEADERS:
    raise SystemExit(f"error: the sweep must be one of {', '.join(HEADERS)}, not {sweep!r}")
  h100 = {d: significance.read(d) for d in DATASETS}
  cpu = {d: significance.read_rerun(d) for d in DATASETS}
  order = [key[1:] for key in h100["mnist"] if key[0] == sweep]
  cpu = {(d, key[1:]): value[:2] for d in DATASETS for key, value in cpu[d].items()
         if key[0] == sweep}
  best = {d: min((k for k in order if (d, k) in cpu), key=lambda k: cpu[d, k][0])
          for d in DATASETS}
  counts = params(sweep) if sweep == "c3_output" else {}
  print(HEADERS[sweep])
  for key in order:
    cells = list(key)
    for dataset in DATASETS:
      mean, std = cpu[dataset, key]
      cell = f"{mean:.2f} ± {std:.2f}"
      cells.append(f"**{cell}**" if sweep == "ablations" and key == best[dataset] else cell)
    cells += ["{:.2f} ± {:.2f}".format(*h100[dataset][(sweep,) + key][:2])
              for dataset in DATASETS]
    if sweep == "c3_output":
      cells.append(f"{counts[key]:,}")
    print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
  main()

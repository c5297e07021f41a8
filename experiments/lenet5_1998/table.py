"""The table of experiments/lenet5_1998/README.md, from the records run.sh leaves in
its RECORD_DIR (committed as cpu_2026-12-06/):

  python experiments/lenet5_1998/table.py [RECORD_DIR]

Per run: the held-out embedded digits' best / last accuracy (<run>.metrics.jsonl), the
official test split's error (official_scores.jsonl, evaluate's JSON line for the last
checkpoint) and the training time (the epochs' seconds summed: compilation, per-epoch
evaluation and checkpoints included).
"""

import os
import sys

from lenet_jax.runs.metrics import read_jsonl

HERE = os.path.dirname(os.path.abspath(__file__))
RUNS = [  # (run, what it is, the command's arguments after `python -m lenet_jax.main`)
    ("sdlm_mu1", "1998 network, SDLM mu 1, no distortions", "--config=configs/lenet5_1998.py"),
    ("sdlm_mu1_distorted", "1998 network, SDLM mu 1, distortions",
     "--config=configs/lenet5_1998.py:distorted"),
    ("sdlm_mu0.1", "1998 network, SDLM mu 0.1", "--config=configs/lenet5_1998.py:mu=0.1"),
    ("sdlm_mu0.02_paper", "1998 network, SDLM mu 0.02 (the paper's)",
     "--config=configs/lenet5_1998.py:mu=0.02"),
    ("modern", "modern (`configs/lenet5.py`), no distortions", "--config=configs/lenet5.py"),
    ("modern_distorted", "modern, distortions",
     "--config=configs/lenet5.py --config.distortions.enabled=True"),
]


def read(path):
  """The records of a JSON-lines file run.sh wrote; one error line if it is not there."""
  records = read_jsonl(path)
  if not records:
    raise SystemExit(f"error: {path} is missing or empty: run run.sh with RECORD_DIR first")
  return records


def main():
  record = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "cpu_2026-12-06")
  official = {os.path.basename(r["workdir"]): r
              for r in read(os.path.join(record, "official_scores.jsonl"))}
  print("| run | command | held-out embedded accuracy, best / last | official test error "
        "| training time |\n|---|---|---|---|---|")
  for name, what, args in RUNS:
    epochs = read(os.path.join(record, f"{name}.metrics.jsonl"))
    best = max(r["test_accuracy"] for r in epochs)
    last = epochs[-1]["test_accuracy"]
    held_out = f"{100 * best:.2f}% / {100 * last:.2f}%"
    if last <= 0.11:
      held_out = f"diverged ({100 * last:.0f}%)"
    error = 100 * (1 - official[name]["test_accuracy"])
    print(f"| {what} | `{args}` | {held_out} | {error:.2f}% | "
          f"{sum(r['seconds'] for r in epochs):.0f} s |")


if __name__ == "__main__":
  main()

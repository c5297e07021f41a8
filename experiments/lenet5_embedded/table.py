"""The table of experiments/lenet5_embedded/README.md, and the figures its prose quotes,
from the per-epoch records stored beside it:

  python experiments/lenet5_embedded/table.py           # the two configs, CPU
  python experiments/lenet5_embedded/table.py --claims  # phrases the README must hold

Accuracies are on the 1,000 held-out embedded digits (the runs' per-epoch test split),
except the figures run's, which scored the official test split every epoch; times are
the epochs' seconds summed (compilation, per-epoch evaluation and checkpoints included).
"""

import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
RUNS = [  # (config and what it is, metrics file)
    ("`configs/lenet5.py` (relu, max, full C3, dense, AdamW 2e-3 wd 0.05, cosine, batch 200)",
     "lenet5_metrics.jsonl"),
    ("`configs/lenet5_1998.py` (scaled tanh, subsampling, C3 table, RBF + MAP, paper init and "
     "normalisation; Adam 1e-3 standing in for SDLM, batch 32)", "lenet5_1998_metrics.jsonl"),
]


def read(name):
  path = os.path.join(HERE, name)
  if not os.path.exists(path):
    raise SystemExit(f"error: {path} is missing")
  with open(path) as f:
    return [json.loads(line) for line in f if line.strip()]


def best(epochs):
  return max(epochs, key=lambda r: r["test_accuracy"])


def table():
  print("| config | epochs | best / last accuracy on the 1,000 held-out embedded digits | "
        "training time (the epochs' seconds summed) |\n|---|---|---|---|")
  for what, name in RUNS:
    epochs = read(name)
    top = best(epochs)
    print(f"| {what} | {len(epochs)} | {top['test_accuracy']:.2%} (epoch {top['epoch']}) / "
          f"{epochs[-1]['test_accuracy']:.2%} | {sum(r['seconds'] for r in epochs):.0f} s |")


def claims():
  cpu, gpu, figures = (read(n) for n in ("lenet5_metrics.jsonl", "lenet5_h100_metrics.jsonl",
                                         os.path.join("figures", "run_metrics.jsonl")))
  speeds = [r["images_per_sec"] for r in cpu[1:]]
  print(f"{min(speeds) / 1e3:.1f}k-{max(speeds) / 1e3:.1f}k images/s (batch 200)")
  fitted = next(r["epoch"] for i, r in enumerate(cpu)
                if all(x["train_accuracy"] == 1.0 for x in cpu[i:]))
  print(f"training accuracy 1.0 from epoch {fitted} on")
  top = best(gpu)
  print(f"digits {top['test_accuracy']:.2%} (epoch {top['epoch']}), last "
        f"{gpu[-1]['test_accuracy']:.2%}")
  print(f"train loss {gpu[0]['train_loss']:.4f} against {cpu[0]['train_loss']:.4f}")
  print(f"sum to {sum(r['seconds'] for r in gpu):.1f} s, of which the first epoch "
        f"(compilation) took {gpu[0]['seconds']:.1f} s")
  fast = [r["images_per_sec"] / 1e6 for r in gpu[1:]]
  print(f"{min(fast):.2f}-{max(fast):.2f} M images/s")
  print(f"whose epochs' seconds sum to {sum(r['seconds'] for r in figures):.0f} s")
  with open(os.path.join(HERE, "..", "lenet5_1998", "cpu_2026-12-06",
                         "official_scores.jsonl")) as f:
    official = {os.path.basename(r["workdir"]): r["test_accuracy"]
                for r in map(json.loads, f)}
  print(f"`configs/lenet5.py` **{official['modern']:.2%}** (error {1 - official['modern']:.2%}) "
        f"and `configs/lenet5_1998.py` **{official['sdlm_mu1']:.2%}** (error "
        f"{1 - official['sdlm_mu1']:.2%})")
  last = figures[-1]["test_accuracy"]
  print(f"{last:.2%} at the last epoch, {round((1 - last) * 10000)} of 10,000 digits wrong")


if __name__ == "__main__":
  claims() if sys.argv[1:] == ["--claims"] else table()

"""How close seed k of a vmapped sweep comes to `lenet_jax.main` with that seed.

  python experiments/reliability/seed_equivalence.py [--epochs=50] [--seeds=2]

Trains configs/lenet5.py on the embedded digits both ways (the seeds together with
jax.vmap, then each seed alone) and prints, per seed, the largest relative
difference of each epoch metric and the final test accuracies of both.
"""

import argparse
import json
import os
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)

import numpy as np  # noqa: E402

from configs import lenet5  # noqa: E402
from lenet_jax.runs import metrics  # noqa: E402
from lenet_jax.training import train  # noqa: E402
from lenet_jax.training import seeds as seeds_lib  # noqa: E402

KEYS = ("train_loss", "train_accuracy", "test_loss", "test_accuracy")


def compare(epochs: int, num_seeds: int, workdir: str) -> list:
  config = lenet5.get_config()
  config.num_epochs = epochs
  config.data.source = "embedded"
  together = os.path.join(workdir, "together")
  train.train_and_evaluate(config, together, seeds=num_seeds)
  rows = []
  for k in range(num_seeds):
    alone = os.path.join(workdir, f"alone_{k}")
    train.train_and_evaluate(seeds_lib.seed_config(config, config.seed + k), alone)
    a, b = metrics.read(alone), metrics.read(seeds_lib.seed_dir(together, k))
    row = {"seed": config.seed + k, "epochs": epochs}
    for key in KEYS:
      x, y = np.array([r[key] for r in a]), np.array([r[key] for r in b])
      row[f"max_rel_diff_{key}"] = float(np.max(np.abs(x - y) / np.abs(x)))
      row[f"first_epoch_differing_{key}"] = next(
          (r["epoch"] for r, u, v in zip(a, x, y) if u != v), None)
    row.update(epoch1_train_loss_alone=a[0]["train_loss"],
               epoch1_train_loss_vmapped=b[0]["train_loss"],
               final_test_accuracy_alone=a[-1]["test_accuracy"],
               final_test_accuracy_vmapped=b[-1]["test_accuracy"])
    rows.append(row)
  return rows


if __name__ == "__main__":
  parser = argparse.ArgumentParser()
  parser.add_argument("--epochs", type=int, default=50)
  parser.add_argument("--seeds", type=int, default=2)
  args = parser.parse_args()
  with tempfile.TemporaryDirectory() as workdir:
    for row in compare(args.epochs, args.seeds, workdir):
      print(json.dumps(row), flush=True)

"""Learning-curve plots of runs (matplotlib, no display needed).

  python -m lenet_jax.plots --out=curves.png runs/a/metrics.jsonl [runs/b/metrics.jsonl ...]

A workdir may be given instead of its metrics.jsonl.
"""

import json
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from lenet_jax.errors import UserError  # noqa: E402


def read_metrics(path: str) -> list[dict]:
  if os.path.isdir(path):
    path = os.path.join(path, "metrics.jsonl")
  if not os.path.isfile(path):
    raise UserError(f"{path} not found: pass a run's workdir or its metrics.jsonl")
  with open(path) as f:
    return [json.loads(line) for line in f if line.strip()]


def learning_curves(runs: dict, out: str, title: str = "") -> None:
  """Plots {label: records} as train/test error and train/test loss against epoch."""
  fig, (ax_err, ax_loss) = plt.subplots(1, 2, figsize=(11, 4))
  for label, records in runs.items():
    epochs = [r["epoch"] for r in records]
    line, = ax_err.plot(epochs, [100 * (1 - r["test_accuracy"]) for r in records], label=label)
    ax_err.plot(epochs, [100 * (1 - r["train_accuracy"]) for r in records], "--",
                color=line.get_color(), alpha=0.6)
    ax_loss.plot(epochs, [r["test_loss"] for r in records], color=line.get_color())
    ax_loss.plot(epochs, [r["train_loss"] for r in records], "--", color=line.get_color(),
                 alpha=0.6)
  ax_err.set(xlabel="epoch", ylabel="error (%)", yscale="log",
             title="error: test (solid), train (dashed)")
  ax_loss.set(xlabel="epoch", ylabel="loss", yscale="log",
              title="loss: test (solid), train (dashed)")
  ax_err.legend(fontsize=8)
  for ax in (ax_err, ax_loss):
    ax.grid(True, which="both", alpha=0.3)
  if title:
    fig.suptitle(title)
  fig.tight_layout()
  fig.savefig(out, dpi=110)
  plt.close(fig)


def main(argv) -> None:
  out = "curves.png"
  paths = []
  for arg in argv:
    if arg.startswith("--out="):
      out = arg.split("=", 1)[1]
    else:
      paths.append(arg)
  if not paths:
    raise UserError("usage: python -m lenet_jax.plots --out=FILE.png RUN [RUN ...]")
  runs = {os.path.basename(os.path.dirname(p) if p.endswith(".jsonl") else p.rstrip("/")) or p:
          read_metrics(p) for p in paths}
  learning_curves(runs, out)
  print(f"wrote {out}")


if __name__ == "__main__":
  try:
    main(sys.argv[1:])
  except UserError as e:
    print(f"error: {e}", file=sys.stderr)
    sys.exit(1)

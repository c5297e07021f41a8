"""Learning-curve plots of runs (`python -m lenet_jax.plots`; matplotlib, no display
needed). Runs whose folders share a name (two sweeps' seed_0) are labelled by as much of
their path as tells them apart."""

import json
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from lenet_jax.common import files  # noqa: E402
from lenet_jax.common.errors import UserError  # noqa: E402

# Error axes are logarithmic above this many percent and linear below it, so a
# train error of exactly 0% stays on the plot.
LINEAR_BELOW_PCT = 0.1


def error_axis(ax) -> None:
  ax.set_yscale("symlog", linthresh=LINEAR_BELOW_PCT, linscale=0.3)
  ax.set_ylim(bottom=0)


def read_metrics(path: str) -> list[dict]:
  if os.path.isdir(path):
    path = os.path.join(path, "metrics.jsonl")
  if not os.path.isfile(path):
    raise UserError(f"{path} not found: pass a run's workdir or its metrics.jsonl")
  try:
    with open(path) as f:
      return [json.loads(line) for line in f if line.strip()]
  except ValueError as e:
    raise UserError(f"{path} is not a metrics file lenet_jax wrote ({e})") from None


def labels(paths) -> list[str]:
  """The shortest trailing part of each run's path that no other run shares."""
  parts = [os.path.normpath(os.path.dirname(p) if p.endswith(".jsonl") else p).split(os.sep)
           for p in paths]
  out = []
  for i, p in enumerate(parts):
    for depth in range(1, len(p) + 1):
      tail = p[-depth:]
      if all(q[-depth:] != tail for j, q in enumerate(parts) if j != i):
        break
    out.append(os.path.join(*tail))
  return out


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
  error_axis(ax_err)
  ax_err.set(xlabel="epoch", ylabel="error (%)", title="error: test (solid), train (dashed)")
  ax_loss.set(xlabel="epoch", ylabel="loss", yscale="log",
              title="loss: test (solid), train (dashed)")
  ax_err.legend(fontsize=8)
  for ax in (ax_err, ax_loss):
    ax.grid(True, which="both", alpha=0.3)
  if title:
    fig.suptitle(title)
  fig.tight_layout()
  save(fig, out, dpi=110)


def save(fig, out: str, dpi: int) -> None:
  """Saves and closes `fig`; makes the folder; a failure is one UserError."""
  files.save_figure(fig, out, "--out", dpi=dpi)


def plot_runs(paths, out: str) -> None:
  """The learning curves of the runs (workdirs or metrics.jsonl files) in `paths` into `out`."""
  if not paths:
    raise UserError("no run given: python -m lenet_jax.plots --out=FILE.png RUN [RUN ...]")
  learning_curves(dict(zip(labels(paths), (read_metrics(p) for p in paths))), out)

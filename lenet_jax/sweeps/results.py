"""A sweep's results: results.csv (per cell), results_seeds.csv (per seed), results.md (with
Welch's t-test against the best cell), a bar chart of test error and learning curves."""

import csv
import math
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from lenet_jax.common import files  # noqa: E402
from lenet_jax.runs import metrics, plots  # noqa: E402
from lenet_jax.sweeps import cells  # noqa: E402
from lenet_jax.training import seeds as seeds_lib  # noqa: E402

COLUMNS = ("seeds", "test_accuracy_mean", "test_accuracy_std", "test_error_pct_mean",
           "test_error_pct_std", "best_epoch", "best_test_accuracy_mean", "epochs", "wall_s",
           "params", "diverged_seeds", "test_top5_error_pct_mean", "test_top5_error_pct_std")


def swept_keys(rows) -> list:
  keys = []
  for row in rows:
    keys += [k for k in row["overrides"] if k not in keys]
  return keys


def _columns(row) -> dict:
  return {
      "seeds": len(row["seeds"]), "test_accuracy_mean": row["test_accuracy_mean"],
      "test_accuracy_std": row["test_accuracy_std"],
      "test_error_pct_mean": 100 * (1 - row["test_accuracy_mean"]),
      "test_error_pct_std": 100 * row["test_accuracy_std"], "best_epoch": row["best_epoch"],
      "best_test_accuracy_mean": row["best_test_accuracy_mean"], "epochs": row["epochs"],
      "wall_s": row["wall_s"], "params": row["params"], "diverged_seeds": row["diverged_seeds"],
      # more than 5 classes only
      "test_top5_error_pct_mean": (100 * (1 - row["test_top5_accuracy_mean"])
                                   if "test_top5_accuracy_mean" in row else ""),
      "test_top5_error_pct_std": (100 * row["test_top5_accuracy_std"]
                                  if "test_top5_accuracy_std" in row else ""),
  }


def write_csv(rows, path: str) -> None:
  keys = swept_keys(rows)
  with open(path, "w", newline="") as f:
    writer = csv.writer(f)
    writer.writerow(["cell"] + keys + list(COLUMNS))
    for row in rows:
      values = _columns(row)
      writer.writerow([row["cell"]] + [cells.format_value(row["overrides"].get(k, "")) for k in keys]
                      + [values[c] for c in COLUMNS])


def welch_p_vs_best(rows) -> list:
  """Per row, the two-sided p-value of Welch's t-test of its final test error against
  the row with the lowest mean error (None for that row, or with fewer than 2 seeds)."""
  from scipy import stats
  best = min(rows, key=lambda r: 1 - r["test_accuracy_mean"])
  out = []
  for row in rows:
    if row is best or len(row["seeds"]) < 2 or len(best["seeds"]) < 2:
      out.append(None)
      continue
    if row["test_accuracy_std"] == 0 and best["test_accuracy_std"] == 0:
      out.append(0.0 if row["test_accuracy_mean"] != best["test_accuracy_mean"] else 1.0)
      continue
    out.append(float(stats.ttest_ind_from_stats(
        row["test_accuracy_mean"], row["test_accuracy_std"], len(row["seeds"]),
        best["test_accuracy_mean"], best["test_accuracy_std"], len(best["seeds"]),
        equal_var=False).pvalue))
  return out


def markdown(rows) -> str:
  keys = swept_keys(rows)
  n = sorted({len(r["seeds"]) for r in rows})
  has_top5 = all("test_top5_accuracy_mean" in r for r in rows)
  header = keys + [f"test error % (mean ± std, {'/'.join(map(str, n))} seeds)",
                   *(["top-5 error %"] if has_top5 else []),
                   "p vs best (Welch)", "best epoch (seed mean)", "epochs", "wall s", "params"]
  lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
  for row, p in zip(rows, welch_p_vs_best(rows)):
    c = _columns(row)
    diverged = f" ({row['diverged_seeds']} diverged)" if row["diverged_seeds"] else ""
    lines.append("| " + " | ".join(
        [cells.format_value(row["overrides"].get(k, "")) for k in keys]
        + [f"{c['test_error_pct_mean']:.2f} ± {c['test_error_pct_std']:.2f}{diverged}",
           *([f"{100 * (1 - row['test_top5_accuracy_mean']):.2f} ± "
              f"{100 * row['test_top5_accuracy_std']:.2f}"] if has_top5 else []),
           "best" if p is None and len(row["seeds"]) > 1 else ("" if p is None else f"{p:.3f}"),
           str(c["best_epoch"]), str(c["epochs"]), f"{c['wall_s']:.0f}", f"{c['params']:,}"])
        + " |")
  lines.append("")
  lines.append("p vs best: two-sided Welch's t-test of each cell's final test error against "
               "the cell with the lowest mean, over the seeds; below 0.05, the difference is "
               "unlikely to be seed noise.")
  return "\n".join(lines) + "\n"


SEED_COLUMNS = ("seed", "final_test_error_pct", "best_test_error_pct", "best_epoch",
                "final_train_error_pct", "final_test_top5_error_pct", "epochs")


def write_seeds_csv(rows, workdir: str, path: str) -> None:
  """Every seed's final and best test error, so any mean ± std can be recomputed."""
  keys = swept_keys(rows)
  with open(path, "w", newline="") as f:
    writer = csv.writer(f)
    writer.writerow(["cell"] + keys + list(SEED_COLUMNS))
    for row in rows:
      directory = os.path.join(workdir, cells.cell_dir(row["overrides"]))
      for k, seed in enumerate(row["seeds"]):
        records = metrics.read(seeds_lib.seed_dir(directory, k))
        best = max(records, key=lambda r: r["test_accuracy"])
        writer.writerow([row["cell"]] + [cells.format_value(row["overrides"].get(key, ""))
                                         for key in keys]
                        + [seed, 100 * (1 - records[-1]["test_accuracy"]),
                           100 * (1 - best["test_accuracy"]), best["epoch"],
                           100 * (1 - records[-1]["train_accuracy"]),
                           100 * (1 - records[-1]["test_top5_accuracy"])
                           if "test_top5_accuracy" in records[-1] else "", len(records)])


def bar_chart(rows, path: str, title: str = "") -> None:
  errors = [100 * (1 - r["test_accuracy_mean"]) for r in rows]
  spread = [100 * r["test_accuracy_std"] for r in rows]
  fig, ax = plt.subplots(figsize=(7, 0.35 * len(rows) + 1.2))
  y = np.arange(len(rows))
  ax.barh(y, errors, xerr=spread, capsize=3, color="tab:blue", alpha=0.8)
  ax.set_yticks(y, [r["cell"] for r in rows], fontsize=8)
  ax.invert_yaxis()
  n = "/".join(map(str, sorted({len(r["seeds"]) for r in rows})))
  ax.set(xlabel=f"test error (%), mean ± std over {n} seeds", title=title)
  ax.grid(True, axis="x", alpha=0.3)
  fig.tight_layout()
  files.save_figure(fig, path, dpi=110)


def learning_curves(rows, workdir: str, path: str, title: str = "") -> None:
  """One panel per cell: each seed's test error (solid) and train error (dashed) by epoch."""
  cols = min(5, len(rows))
  nrows = math.ceil(len(rows) / cols)
  fig, axes = plt.subplots(nrows, cols, figsize=(3.2 * cols, 2.6 * nrows), sharex=True,
                           sharey=True, squeeze=False)
  for ax, row in zip(axes.flat, rows):
    directory = os.path.join(workdir, cells.cell_dir(row["overrides"]))
    for k, seed in enumerate(row["seeds"]):
      records = metrics.read(seeds_lib.seed_dir(directory, k))
      epochs = [r["epoch"] for r in records]
      line, = ax.plot(epochs, [100 * (1 - r["test_accuracy"]) for r in records], lw=1,
                      label=f"seed {seed}")
      ax.plot(epochs, [100 * (1 - r["train_accuracy"]) for r in records], "--", lw=0.8,
              color=line.get_color(), alpha=0.6)
    ax.set_title(row["cell"], fontsize=8)
    plots.error_axis(ax)
    ax.grid(True, which="both", alpha=0.3)
  axes.flat[0].legend(fontsize=6)
  for ax in axes.flat[len(rows):]:
    ax.axis("off")
  for ax in axes[-1]:
    ax.set_xlabel("epoch")
  for ax in axes[:, 0]:
    ax.set_ylabel("error (%)")
  fig.suptitle(title or "test error (solid) and train error (dashed), one line per seed")
  fig.tight_layout()
  plots.save(fig, path, dpi=100)


def write(rows, workdir: str) -> None:
  write_csv(rows, os.path.join(workdir, "results.csv"))
  write_seeds_csv(rows, workdir, os.path.join(workdir, "results_seeds.csv"))
  with open(os.path.join(workdir, "results.md"), "w") as f:
    f.write(markdown(rows))
  bar_chart(rows, os.path.join(workdir, "test_error.png"))
  learning_curves(rows, workdir, os.path.join(workdir, "curves.png"))

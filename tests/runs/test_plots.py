import json
import os

import pytest

from conftest import run_command
from lenet_jax.common.errors import UserError
from lenet_jax.runs import plots


def _run(directory, train_accuracy=1.0, epochs=3):
  directory.mkdir(parents=True)
  with open(directory / "metrics.jsonl", "w") as f:
    for epoch in range(1, epochs + 1):
      f.write(json.dumps({"epoch": epoch, "train_loss": 1.0 / epoch, "test_loss": 1.2 / epoch,
                          "train_accuracy": train_accuracy,
                          "test_accuracy": 0.88 + epoch / 100}) + "\n")
  return str(directory)


def test_learning_curves_png_into_a_folder_that_is_made(tmp_path):
  # Two runs whose folders share a name; --out in a folder that does not exist yet.
  a, b = _run(tmp_path / "sweep_a" / "seed_0"), _run(tmp_path / "sweep_b" / "seed_0")
  out = tmp_path / "new" / "curves.png"
  proc = run_command("lenet_jax.plots", f"--out={out}", a, b)
  assert proc.returncode == 0, proc.stderr
  assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_runs_whose_folders_share_a_name_get_their_own_labels(tmp_path):
  a, b = _run(tmp_path / "sweep_a" / "seed_0"), _run(tmp_path / "sweep_b" / "seed_0")
  assert plots.labels([a, b]) == [os.path.join("sweep_a", "seed_0"),
                                  os.path.join("sweep_b", "seed_0")]
  assert plots.labels([a, str(tmp_path / "x" / "metrics.jsonl")]) == ["seed_0", "x"]


def test_a_train_error_of_zero_stays_on_the_axis():
  import matplotlib.pyplot as plt
  fig, ax = plt.subplots()
  ax.plot([1, 2], [0.0, 5.0])
  plots.error_axis(ax)
  low, high = ax.get_ylim()
  assert low <= 0.0 < high and ax.get_yscale() == "symlog"
  plt.close(fig)


def test_missing_run_is_a_user_error(tmp_path):
  with pytest.raises(UserError, match="not found"):
    plots.read_metrics(str(tmp_path / "nope"))

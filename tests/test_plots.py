import json

import pytest

from lenet_jax import plots
from lenet_jax.errors import UserError


def test_learning_curves_png(tmp_path):
  run = tmp_path / "run"
  run.mkdir()
  with open(run / "metrics.jsonl", "w") as f:
    for epoch in (1, 2, 3):
      f.write(json.dumps({"epoch": epoch, "train_loss": 1.0 / epoch, "test_loss": 1.2 / epoch,
                          "train_accuracy": 0.9 + epoch / 100,
                          "test_accuracy": 0.88 + epoch / 100}) + "\n")
  out = tmp_path / "curves.png"
  plots.main([f"--out={out}", str(run)])
  assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_missing_run_is_a_user_error(tmp_path):
  with pytest.raises(UserError, match="not found"):
    plots.read_metrics(str(tmp_path / "nope"))

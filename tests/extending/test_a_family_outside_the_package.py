"""A new model family is one module and one config file: one defined here, outside the
package, trains, evaluates and summarises through the real commands, its BatchNorm
statistics carried by the run (docs/extending.md)."""

import json

from conftest import MNIST_TEST_DIR, run_command
from lenet_jax.runs import metrics

CONFIG = "--config=tests/extending/tiny_mlp_config.py"


def test_a_family_from_outside_trains_evaluates_and_summarises(tmp_path):
  workdir = tmp_path / "run"
  trained = run_command("lenet_jax.main", CONFIG, f"--workdir={workdir}")
  assert trained.returncode == 0, trained.stderr[-3000:]
  records = metrics.read(str(workdir))
  assert [r["epoch"] for r in records] == [1, 2]
  assert records[-1]["test_accuracy"] > 0.8  # embedded digits; chance is 0.1
  with open(workdir / "config.json") as f:
    assert json.load(f)["model"]["module"] == "tests.extending.tiny_mlp"
  # evaluate finds the family from the run's own record, and uses its statistics
  scored = run_command("lenet_jax.evaluate", f"--workdir={workdir}",
                       "--config.data.source=idx", f"--config.data.dir={MNIST_TEST_DIR}")
  assert scored.returncode == 0, scored.stderr[-3000:]
  assert "checkpoint at step 80" in scored.stdout
  table = run_command("lenet_jax.summary", CONFIG)
  assert table.returncode == 0, table.stderr[-3000:]
  rows = {line.split()[0]: line.split() for line in table.stdout.splitlines() if line.strip()}
  # the layers that hold parameters, in call order, with their output shapes and counts
  assert [name for name in rows if name in ("hidden", "norm", "logits")] == [
      "hidden", "norm", "logits"]
  assert rows["hidden"][1:5] == ["32", "25,088", "32", "25,120"]
  assert rows["norm"][1:5] == ["32", "32", "32", "64"]
  assert rows["logits"][1:5] == ["10", "320", "10", "330"]
  assert rows["total"][1:4] == ["25,440", "74", "25,514"]

"""The training loop's progress: a bar at a terminal waits one dispatch behind, never on
the newest; elsewhere a line every config.progress_secs, waiting only when one is due."""

import io
import os
import sys

import jax.numpy as jnp
import pytest

from conftest import tiny_config
from lenet_jax.runs import metrics
from lenet_jax.training import progress, train


def test_the_bar_waits_on_the_dispatch_before_the_newest(monkeypatch):
  waited = []
  monkeypatch.setattr(progress.jax, "block_until_ready", waited.append)
  bar = progress.StepBar(total=9, desc="epoch 1")
  markers = [jnp.asarray(k) for k in range(3)]
  bar.dispatched(markers[0], 2)
  assert waited == [] and bar.bar.n == 0
  bar.dispatched(markers[1], 3)
  assert waited == [markers[0]] and bar.bar.n == 2
  bar.dispatched(markers[2], 4)
  assert waited == markers[:2] and bar.bar.n == 5
  bar.close()
  assert waited == markers[:2] and bar.bar.n == 9


@pytest.mark.full_xla  # trains the tiny LeNet-5 for epochs: its execution repays optimisation
def test_a_run_at_a_terminal_counts_every_step(tmp_path, monkeypatch):
  bars = []

  class Recorded(progress.StepBar):
    def __init__(self, total, desc):
      super().__init__(total, desc)
      bars.append(self)

  monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
  monkeypatch.setattr(progress, "StepBar", Recorded)
  train.train_and_evaluate(tiny_config(num_epochs=2), str(tmp_path))
  assert [(b.bar.total, b.bar.n) for b in bars] == [(80, 80), (80, 80)]
  assert [r["step"] for r in metrics.read(str(tmp_path))] == [80, 160]


def test_lines_come_when_due_and_count_finished_steps(monkeypatch):
  waited, now, out = [], [0.0], io.StringIO()
  monkeypatch.setattr(progress.jax, "block_until_ready", waited.append)
  lines = progress.StepLines(total=10, desc="epoch 2", every=5, out=out, clock=lambda: now[0])
  markers = [jnp.asarray(k) for k in range(4)]
  lines.dispatched(markers[0], 2)
  now[0] = 4.0
  lines.dispatched(markers[1], 3)  # not due: no wait, no line
  assert waited == [] and out.getvalue() == ""
  now[0] = 6.0
  lines.dispatched(markers[2], 3)  # due: waits on the dispatch before the newest
  assert waited == [markers[1]]
  assert out.getvalue() == "epoch 2: step 5/10 (50%), 0.8 steps/s\n"
  now[0] = 8.0
  lines.dispatched(markers[3], 2)  # 2 s since the last line: not due
  assert waited == [markers[1]] and out.getvalue().count("\n") == 1


def test_elsewhere_lines_or_nothing(monkeypatch):
  monkeypatch.setattr(sys.stdout, "isatty", lambda: False)
  assert isinstance(progress.step_progress(5, "epoch 1", 60), progress.StepLines)
  assert progress.step_progress(5, "epoch 1", 0) is None


@pytest.mark.full_xla  # trains the tiny LeNet-5 for epochs: its execution repays optimisation
def test_a_logged_run_prints_progress_lines_and_a_profile(tmp_path, capsys, monkeypatch):
  # A run whose output goes to a file (as under SLURM), traced with main's --profile_dir.
  monkeypatch.setattr(sys.stdout, "isatty", lambda: False)
  config = tiny_config(progress_secs=1e-9, steps_per_scan=20)
  train.train_and_evaluate(config, str(tmp_path / "run"), profile=(str(tmp_path / "prof"), 40))
  out = capsys.readouterr().out
  # 4 calls of 20 steps: a line after each of the last three, counting the calls before
  assert [line.split(",")[0] for line in out.splitlines() if line.startswith("epoch 1: step")] \
      == ["epoch 1: step 20/80 (25%)", "epoch 1: step 40/80 (50%)", "epoch 1: step 60/80 (75%)"]
  # the trace: calls 2 and 3 (the first compiles), 40 steps, read back into a table
  assert "profile: time per XLA operation over 40 traced steps" in out
  assert any(name == "perfetto_trace.json.gz" for _, _, names in os.walk(tmp_path / "prof")
             for name in names)

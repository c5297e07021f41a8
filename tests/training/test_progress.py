"""The training loop's progress bar waits one dispatch behind, never on the newest."""

import sys

import jax.numpy as jnp

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

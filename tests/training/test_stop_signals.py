"""Ctrl-C and SIGTERM end every kind of run at the next chunk or epoch boundary, saved,
with one message and exit status 128 + the signal (issue: stops that were ignored)."""

import os
import signal
import subprocess
import sys

import pytest

from conftest import ROOT, tiny_config
from lenet_jax import benchmark
from lenet_jax.common import preemption
from lenet_jax.runs import metrics
from lenet_jax.training import steps, train


def _env():
  return dict(os.environ, LENET_JAX_OFFLINE="1", JAX_PLATFORMS="cpu", PYTHONUNBUFFERED="1")


def _start(module, *args):
  return subprocess.Popen([sys.executable, "-m", module, *args], cwd=ROOT, env=_env(),
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _stop_after(proc, marker, signum):
  seen = []
  for line in proc.stdout:
    seen.append(line)
    if marker in line:
      break
  proc.send_signal(signum)
  out, _ = proc.communicate(timeout=180)
  return "".join(seen) + out


def test_readme_training_run_stops_when_one_chunk_is_the_whole_epoch(tmp_path):
  signum = signal.SIGTERM  # SIGINT takes the same path (the sweep test sends it)
  # configs/lenet5.py: 4,000 digits at batch 200 are 20 steps, one scanned chunk on a CPU,
  # so the stop can only be taken at the epoch boundary (the case that was ignored).
  proc = _start("lenet_jax.main", "--config=configs/lenet5.py", f"--workdir={tmp_path}",
                "--config.data.source=embedded", "--config.num_epochs=40")
  out = _stop_after(proc, "epoch   1/40", signum)
  assert proc.returncode == 128 + signum, out[-3000:]
  assert "Traceback" not in out
  name = signal.Signals(signum).name
  assert f"stopped by {name} at the end of epoch" in out and "checkpoint saved in" in out
  epochs = len(metrics.read(str(tmp_path)))
  assert 1 <= epochs < 40
  assert sorted(os.listdir(tmp_path / "checkpoints"), key=int)[-1] == str(20 * epochs)


def test_sigterm_during_start_up_says_nothing_was_trained(tmp_path):
  proc = _start("lenet_jax.main", "--config=configs/lenet5.py", f"--workdir={tmp_path}",
                "--config.data.source=embedded")
  out = _stop_after(proc, "data: mnist from embedded", signal.SIGTERM)  # before any step
  assert proc.returncode == 128 + signal.SIGTERM, out[-3000:]
  assert "stopped by SIGTERM during start-up; nothing was trained" in out
  assert not (tmp_path / "metrics.jsonl").exists()


def test_sweep_stops_at_the_epoch_boundary_and_resumes(tmp_path):
  args = ("--config=configs/lenet5.py", "--sweep=smoke", f"--workdir={tmp_path}",
          "--config.data.source=embedded")
  proc = _start("lenet_jax.sweep", *args)
  out = _stop_after(proc, "epoch   1/", signal.SIGINT)
  assert proc.returncode == 128 + signal.SIGINT, out[-3000:]
  assert "stopped by SIGINT" in out and "Traceback" not in out
  assert not (tmp_path / "results.csv").exists()


def _interrupt_after_first_chunk(monkeypatch):
  original = steps.make_train_chunk

  def make(*args, **kwargs):
    chunk = original(*args, **kwargs)

    def first_then_stop(*a):
      out = chunk(*a)
      preemption._handle(signal.SIGTERM, None)  # as if SIGTERM arrived during the chunk
      return out
    return first_then_stop
  monkeypatch.setattr(steps, "make_train_chunk", make)


def test_step_losses_of_a_first_epoch_stopped_mid_way_are_kept(tmp_path, monkeypatch):
  config = tiny_config(log_step_losses=True, steps_per_scan=10)  # 8 chunks of 10 steps
  with monkeypatch.context() as m:
    _interrupt_after_first_chunk(m)
    with preemption.StopSignals(), pytest.raises(preemption.StopRequested, match="at step 10"):
      train.train_and_evaluate(config, str(tmp_path))
  assert [r["step"] for r in metrics.read_step_losses(str(tmp_path))] == list(range(1, 11))
  train.train_and_evaluate(config, str(tmp_path))
  assert [r["step"] for r in metrics.read_step_losses(str(tmp_path))] == list(range(1, 81))


def test_benchmark_stops_before_timing(tmp_path):
  config = tiny_config(**{"data.name": "synthetic", "data.source": "synthetic"})
  with preemption.StopSignals(), pytest.raises(preemption.StopRequested,
                                               match="nothing was measured") as stopped:
    preemption._handle(signal.SIGINT, None)
    benchmark.measure_steps(config, steps=5, warmup=1)
  assert stopped.value.exit_code == 130

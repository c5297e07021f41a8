"""Ctrl-C and SIGTERM end every kind of run at the next chunk or epoch boundary, saved,
with one message and exit status 128 + the signal (issue: stops that were ignored)."""

import os
import signal
import time

import pytest

from conftest import start_command, tiny_config
from lenet_jax.benchmarking import benchmark
from lenet_jax.common import preemption
from lenet_jax.runs import metrics
from lenet_jax.training import steps, train


def _start(module, *args):
  # stderr into stdout: the log lines mark the moments to send a signal at
  return start_command(module, *args, merge_stderr=True)


seconds = [None]  # from the last signal sent to the process's end


def _stop_after(proc, marker, signum):
  seen = []
  for line in proc.stdout:
    seen.append(line)
    if marker in line:
      break
  proc.send_signal(signum)
  sent = time.monotonic()
  out, _ = proc.communicate(timeout=180)
  seconds[0] = time.monotonic() - sent
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


@pytest.mark.parametrize("marker", ["data: mnist from embedded", "OUTPUT "])
def test_sigterm_during_start_up_stops_at_once_and_leaves_nothing(tmp_path, marker):
  # after the data is loaded, and after the model's table (the step compiling next)
  workdir = tmp_path / "run"
  proc = _start("lenet_jax.main", "--config=configs/lenet5.py", f"--workdir={workdir}",
                "--config.data.source=embedded", "--config.model.implementation=xla",
                "--config.steps_per_scan=20")  # XLA's convolutions in a scan: a long compile
  out = _stop_after(proc, marker, signal.SIGTERM)  # before any step
  assert proc.returncode == 128 + signal.SIGTERM, out[-3000:]
  assert "stopped by SIGTERM during start-up; nothing was trained" in out
  assert seconds[0] < 5, seconds[0]  # not after compiling
  assert not workdir.exists()  # no config.json, events file or empty checkpoints/


def test_sweep_stops_at_the_epoch_boundary_and_resumes(tmp_path):
  args = ("--config=configs/lenet5.py", "--sweep=smoke", f"--workdir={tmp_path}",
          "--config.data.source=embedded")
  proc = _start("lenet_jax.sweep", *args)
  out = _stop_after(proc, "epoch   1/", signal.SIGINT)
  assert proc.returncode == 128 + signal.SIGINT, out[-3000:]
  assert "stopped by SIGINT" in out and "Traceback" not in out
  assert not (tmp_path / "results.csv").exists()


def _interrupt_after_second_chunk(monkeypatch):
  # (A signal during the first chunk, which compiles, stops at once with nothing saved.)
  original = steps.make_train_chunk

  def make(*args, **kwargs):
    chunk = original(*args, **kwargs)
    calls = []

    def second_then_stop(*a):
      out = chunk(*a)
      calls.append(1)
      if len(calls) == 2:
        preemption._handle(signal.SIGTERM, None)  # as if SIGTERM arrived during the chunk
      return out
    return second_then_stop
  monkeypatch.setattr(steps, "make_train_chunk", make)


def test_step_losses_of_a_first_epoch_stopped_mid_way_are_kept(tmp_path, monkeypatch):
  config = tiny_config(log_step_losses=True, steps_per_scan=10)  # 8 chunks of 10 steps
  with monkeypatch.context() as m:
    _interrupt_after_second_chunk(m)
    with preemption.StopSignals(), pytest.raises(preemption.StopRequested, match="at step 20"):
      train.train_and_evaluate(config, str(tmp_path))
  assert [r["step"] for r in metrics.read_step_losses(str(tmp_path))] == list(range(1, 21))
  train.train_and_evaluate(config, str(tmp_path))
  assert [r["step"] for r in metrics.read_step_losses(str(tmp_path))] == list(range(1, 81))


def test_benchmark_stops_before_timing(tmp_path):
  config = tiny_config(**{"data.name": "synthetic", "data.source": "synthetic"})
  with preemption.StopSignals(), pytest.raises(preemption.StopRequested,
                                               match="nothing was measured") as stopped:
    preemption._handle(signal.SIGINT, None)
    benchmark.measure_steps(config, steps=5, warmup=1)
  assert stopped.value.exit_code == 130

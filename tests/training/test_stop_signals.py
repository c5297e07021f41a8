"""Ctrl-C and SIGTERM end every kind of run at the next chunk or epoch boundary, saved,
with one message and exit status 128 + the signal (issue: stops that were ignored)."""

import os
import signal
import threading
import time

import pytest

from conftest import start_command, tiny_config
from lenet_jax.benchmarking import benchmark
from lenet_jax.common import lock, preemption
from lenet_jax.runs import metrics
from lenet_jax.training import steps, train


def _start(module, *args, **popen):
  # stderr into stdout: the log lines mark the moments to send a signal at
  return start_command(module, *args, merge_stderr=True, **popen)


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


CRASH = ("Traceback", "terminate called", "FATAL", "Fatal Python", "Segmentation fault",
         "Exception ignored", "Aborted", "core dumped")
LENET5 = ("lenet_jax.main", "--config=configs/lenet5.py", "--config.data.source=embedded",
          "--config.model.implementation=xla", "--config.steps_per_scan=20")  # a long compile
SWEEP = ("lenet_jax.sweep", "--config=configs/lenet5.py", "--sweep=smoke", "--seeds=2",
         "--config.data.source=embedded", "--config.model.implementation=xla")
# AlexNet's layers and towers at 67x67 with 256 FC units (conftest.SMALL_ALEXNET)
ALEXNET = ("lenet_jax.main", "--config=configs/alexnet.py:data=synthetic,runlocal",
           "--config.data.resize=67", "--config.data.synthetic_shape=(67, 67, 3)",
           "--config.model.fc_units=256", "--config.data.synthetic_classes=10")


@pytest.mark.parametrize("command, marker, signum", [
    (LENET5, "data: mnist from embedded", signal.SIGTERM),  # the model being built
    (LENET5, "OUTPUT ", signal.SIGINT),  # the step compiling
    (SWEEP, "[cell 1/4]", signal.SIGTERM),  # a cell's data, model, compilation
    (ALEXNET, "data: synthetic", signal.SIGINT),  # 2 towers being initialised
    (ALEXNET, "fc8 ", signal.SIGTERM),  # compiling
], ids=["lenet5-data", "lenet5-compile", "sweep-cell", "alexnet-model", "alexnet-compile"])
def test_a_stop_during_start_up_ends_at_once_without_a_crash(tmp_path, command, marker,
                                                              signum):
  workdir = tmp_path / "run"
  # One case as a user starts it, a new interpreter (its exit is the interpreter's own; the
  # others are forked from the suite's zygote, which exits at once).
  popen = {"close_fds": True} if marker == "OUTPUT " else {}
  proc = _start(*command, f"--workdir={workdir}", **popen)
  out = _stop_after(proc, marker, signum)  # before any step
  assert proc.returncode == 128 + signum, out[-3000:]
  assert not [word for word in CRASH if word in out], out[-3000:]
  name = signal.Signals(signum).name
  assert [line for line in out.splitlines() if line.startswith("stopped")] == [
      f"stopped by {name} during start-up; nothing was trained"], out[-3000:]
  assert seconds[0] < 5, seconds[0]  # not after compiling
  if command is SWEEP:  # the sweep's record of its cells, nothing of the cell
    assert sorted(os.listdir(workdir)) == ["sweep.json"]
  else:
    assert not workdir.exists()  # no config.json, events file or empty checkpoints/


def _importing_jax(pid: int) -> bool:
  """Whether process `pid` has begun to import JAX (jaxlib's libraries are mapped)."""
  with open(f"/proc/{pid}/maps") as f:
    return "/jaxlib/" in f.read()


@pytest.mark.skipif(not os.path.exists("/proc/self/maps"), reason="reads /proc (Linux)")
@pytest.mark.parametrize("signum,config", [(signal.SIGTERM, None), (signal.SIGINT, None),
                                           (signal.SIGTERM, "configs/no_such_config.py")])
def test_a_stop_while_the_libraries_import_is_one_line(tmp_path, signum, config):
  # A new interpreter as a user starts it: the signal comes once JAX begins to import (the
  # next 2 s or so; Python's own SIGINT handler would print a KeyboardInterrupt traceback
  # there, and SIGTERM would kill the process without a word). A stop comes before an
  # error in the flags found after the imports (a config file that does not exist).
  workdir = tmp_path / "run"
  args = LENET5 if config is None else (LENET5[0], f"--config={config}", *LENET5[2:])
  proc = _start(*args, f"--workdir={workdir}", close_fds=True)
  while not _importing_jax(proc.pid):
    assert proc.poll() is None, proc.stdout.read()
    time.sleep(0.005)
  proc.send_signal(signum)
  sent = time.monotonic()
  out, _ = proc.communicate(timeout=180)
  assert proc.returncode == 128 + signum, out[-3000:]
  name = signal.Signals(signum).name
  assert out.strip().splitlines()[-1] in (
      f"stopped by {name} before the command began; nothing was done",
      f"stopped by {name} during start-up; nothing was trained"), out[-3000:]
  assert not [word for word in CRASH if word in out], out[-3000:]
  assert config is None or "error:" not in out, out[-3000:]
  assert time.monotonic() - sent < 5
  assert not workdir.exists()


def _gone(path, within_s: float = 10.0) -> bool:
  ends = time.monotonic() + within_s
  while path.exists() and time.monotonic() < ends:
    time.sleep(0.02)
  return not path.exists()


def test_a_stop_that_leaves_start_up_running_keeps_its_lock_till_that_work_ends(tmp_path):
  # The start-up left running in a thread may still write in the run directory: the lock
  # stays held until it ends (a command's process ends at once before: preemption.finish),
  # then goes, as for a caller that carries on (a notebook).
  release = threading.Event()
  with preemption.StopSignals() as stop:
    with pytest.raises(preemption.StopRequested):
      with lock.hold(str(tmp_path / "run"), "a test"):
        threading.Timer(0.2, os.kill, (os.getpid(), signal.SIGTERM)).start()
        stop.wait_for(release.wait, "during start-up")  # stopped while it waits
    time.sleep(0.3)
    assert lock.read(str(tmp_path / "run")) is not None  # still held
    release.set()
    assert _gone(tmp_path / "run")  # made by the lock, nothing written: removed
  with lock.hold(str(tmp_path / "run"), "a test"):  # and free again
    pass
  assert not (tmp_path / "run").exists()


def test_sweep_stops_at_the_epoch_boundary_and_resumes(tmp_path):
  args = ("--config=configs/lenet5.py", "--sweep=smoke", f"--workdir={tmp_path}",
          "--config.data.source=embedded")
  proc = _start("lenet_jax.sweep", *args)
  out = _stop_after(proc, "epoch   1/", signal.SIGINT)
  assert proc.returncode == 128 + signal.SIGINT, out[-3000:]
  assert "stopped by SIGINT" in out and "Traceback" not in out
  assert not (tmp_path / "results.csv").exists()


def test_a_signal_never_raises_inside_the_code_it_interrupts(tmp_path, monkeypatch):
  # A stop is a flag checked at safe points: an exception raised by the handler would land
  # wherever Python is, inside a library's callback included (a JAX gc hook swallowed it,
  # XLA aborted the process). Here it arrives while the data loads.
  raised = []
  original = train.data.load

  def load_interrupted(*args, **kwargs):
    try:
      preemption._handle(signal.SIGTERM, None)
    except BaseException:
      raised.append(True)
      raise
    return original(*args, **kwargs)

  monkeypatch.setattr(train.data, "load", load_interrupted)
  with preemption.StopSignals(), pytest.raises(preemption.StopRequested,
                                               match="during start-up; nothing was trained"):
    train.train_and_evaluate(tiny_config(), str(tmp_path / "run"))
  assert not raised
  assert _gone(tmp_path / "run", 60)  # the start-up's lock, once the start-up ends


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

"""Sweeps shared by several workers: shards, cells held by one worker at a time
(`lenet_jax.common.lock`), take-over of a dead worker's cell, --collect."""

import os
import re
import signal
import socket
import subprocess
import sys
import time

import pytest

from conftest import ROOT, start_command
from lenet_jax.common.errors import UserError
from lenet_jax.common import lock
from lenet_jax.sweeps import cells as cells_lib
from lenet_jax.sweeps import sweep
from test_sweep import _small

DATA = ["--config.data.name=synthetic", "--config.data.source=synthetic",
        "--config.data.synthetic_train_size=100", "--config.data.synthetic_test_size=50",
        "--config.batch_size=50", "--checkpoint_secs=0"]
SMOKE = ["--config=configs/lenet5.py", "--sweep=smoke", *DATA]
CELLS = [cells_lib.cell_name(c) for c in cells_lib.load(
    os.path.join(ROOT, "configs/lenet5.py"), "smoke")]


def _worker(workdir, *flags, args=SMOKE):
  return start_command("lenet_jax.sweep", *args, f"--workdir={workdir}", *flags)


def _output(worker, timeout=300) -> str:
  out, err = worker.communicate(timeout=timeout)
  return out + err


def _trained(output: str) -> list[str]:
  """The cells a worker trained (its '[cell k/n] name: 1 seed; ...' lines)."""
  return re.findall(r"\[cell \d+/\d+\] (\S+): \d+ seeds?;", output)


def test_two_workers_at_once_train_every_cell_exactly_once(tmp_path):
  workdir = tmp_path / "sweep"
  # Overlapping shards (both take every cell): the claims alone keep them apart.
  workers = [_worker(workdir, "--shard=0/1"), _worker(workdir, "--shard=0/1")]
  outputs = [_output(w) for w in workers]
  assert [w.returncode for w in workers] == [0, 0], outputs
  trained = _trained(outputs[0]) + _trained(outputs[1])
  assert sorted(trained) == sorted(CELLS), outputs
  assert "left to it" in outputs[0] + outputs[1]
  with open(workdir / "results.csv") as f:
    assert len(f.read().splitlines()) == 1 + len(CELLS)  # the last worker wrote them
  assert not list(workdir.glob("*/lock*.json"))


def test_a_killed_worker_s_cell_is_taken_over_and_resumed(tmp_path):
  # A cell of 10 epochs (the `optimizer` sweep's cells leave num_epochs to the config),
  # killed once its first epoch's checkpoint is written: 9 epochs are left, far more
  # than can run between two looks.
  workdir = tmp_path / "sweep"
  args = ["--config=configs/lenet5.py", "--sweep=optimizer", "--config.num_epochs=10", *DATA]
  first = _worker(workdir, "--shard=0/2", args=args)
  cells = cells_lib.load(os.path.join(ROOT, "configs/lenet5.py"), "optimizer")
  name = cells_lib.cell_name(cells[0])
  cell = workdir / cells_lib.cell_dir(cells[0])
  deadline = time.time() + 120
  while time.time() < deadline and first.poll() is None:
    if (cell / "checkpoints").is_dir() and any(p.name.isdigit()
                                               for p in (cell / "checkpoints").iterdir()):
      break  # the first epoch's checkpoint is finished
    time.sleep(0.02)
  first.send_signal(signal.SIGKILL)
  first.communicate()
  assert not (cell / "result.json").exists()
  assert (cell / lock.LOCK).exists()  # left behind by the dead worker
  _, missing = sweep.collect(cells, str(workdir))
  assert missing[0].startswith(f"{name} (stopped: its worker, lenet_jax.sweep shard 0/2 "
                               f"(pid {first.pid} on {socket.gethostname()}, since ")
  assert missing[0].endswith("), is gone)")
  second = _worker(workdir, "--shard=0/2", args=args)
  out = _output(second)
  assert second.returncode == 0, out
  assert f"{name}: taking over from lenet_jax.sweep shard 0/2 (pid {first.pid}" in out
  assert "Resuming from the checkpoint" in out
  assert (cell / "result.json").exists() and not (cell / lock.LOCK).exists()
  assert "1 of 2 cells finished; left to other workers" in out


def test_collect_after_partial_completion_names_the_missing_cells(tmp_path, capsys):
  workdir = str(tmp_path / "sweep")
  cells = [{"model.pooling": "avg"}, {"model.pooling": "max"}, {"model.activation": "tanh"}]
  config = _small(num_epochs=1)
  assert sweep.run_sweep(config, cells, workdir, 1, shard=(1, 2)) is None
  out = capsys.readouterr().out
  assert _trained(out) == ["pooling=max"]
  assert "1 of 3 cells finished; left to other workers: pooling=avg (not started); " \
         "activation=tanh (not started)" in out
  # A live holder (this process) is named as such.
  live = lock.acquire(os.path.join(workdir, cells_lib.cell_dir(cells[0])),
                      "lenet_jax.sweep shard 0/2", 300.0)[0]
  rows, missing = sweep.write_collected(cells, workdir)
  live.release()
  assert [r["cell"] for r in rows] == ["pooling=max"]
  assert missing[0].startswith(f"pooling=avg (being trained by lenet_jax.sweep shard 0/2 "
                               f"(pid {os.getpid()} ")
  with open(os.path.join(workdir, "results.md")) as f:
    assert "Unfinished (2 of 3 cells)" in f.read()
  assert sweep.run_sweep(config, cells, workdir, 1, shard=(0, 2)) is not None  # completes it


def test_shard_flag_and_slurm_defaults(monkeypatch):
  monkeypatch.delenv("SLURM_ARRAY_TASK_ID", raising=False)
  assert sweep.parse_shard(None) == (0, 1)
  monkeypatch.setenv("SLURM_ARRAY_TASK_ID", "3")
  monkeypatch.setenv("SLURM_ARRAY_TASK_COUNT", "4")
  assert sweep.parse_shard(None) == (3, 4) and sweep.parse_shard("1/2") == (1, 2)
  monkeypatch.setenv("SLURM_ARRAY_TASK_ID", "4")
  with pytest.raises(UserError, match=r"SLURM_ARRAY_TASK_ID/SLURM_ARRAY_TASK_COUNT=4/4: I must"):
    sweep.parse_shard(None)
  with pytest.raises(UserError, match=r"--shard='two': expected I/N"):
    sweep.parse_shard("two")


def test_a_stale_lock_is_taken_over_once(tmp_path):
  directory = str(tmp_path / "cell")
  os.makedirs(directory)
  dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                        capture_output=True, text=True).stdout.strip()
  with open(os.path.join(directory, lock.LOCK), "w") as f:
    f.write('{"host": "%s", "pid": %s, "what": "shard 1/2", "since": "x"}'
            % (socket.gethostname(), dead))
  mine, old = lock.acquire(directory, "0/2", 300.0)
  assert mine is not None and old["pid"] == int(dead)
  # held by this process: another process is refused, this one may take it again
  other = subprocess.run([sys.executable, "-c", "import sys; from lenet_jax.common import lock; "
                          f"print(lock.acquire({directory!r}, 'x')[1]['pid'])"],
                         capture_output=True, text=True, cwd=ROOT)
  assert other.stdout.strip() == str(os.getpid()), other.stderr
  again, _ = lock.acquire(directory, "0/2", 300.0)
  assert again is mine
  again.release()
  assert os.path.exists(os.path.join(directory, lock.LOCK))  # still held once
  mine.release()
  assert not os.path.exists(os.path.join(directory, lock.LOCK))
  # Another host's lock is stale only once it has not been refreshed for the timeout.
  with open(os.path.join(directory, lock.LOCK), "w") as f:
    f.write('{"host": "elsewhere", "pid": 1, "what": "shard 1/2", "since": "y"}')
  assert lock.acquire(directory, "0/2", 300.0)[0] is None
  old_time = time.time() - 400
  os.utime(os.path.join(directory, lock.LOCK), (old_time, old_time))
  taken, old = lock.acquire(directory, "0/2", 300.0)
  assert taken is not None and old["host"] == "elsewhere"
  taken.release()

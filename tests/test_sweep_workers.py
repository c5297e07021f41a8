"""Sweeps shared by several workers: shards, atomic cell claims, take-over, --collect."""

import os
import re
import signal
import subprocess
import sys
import time

import pytest

from conftest import ROOT
from lenet_jax import sweeps
from lenet_jax.errors import UserError
from lenet_jax.sweeps import claims, runner
from test_sweep import _small

SMOKE = ["--config=configs/lenet5.py", "--sweep=smoke", "--config.data.name=synthetic",
         "--config.data.source=synthetic", "--config.data.synthetic_train_size=100",
         "--config.data.synthetic_test_size=50", "--config.batch_size=50",
         "--checkpoint_secs=0"]
CELLS = [sweeps.cell_name(c) for c in sweeps.load("configs/lenet5.py", "smoke")]


def _worker(workdir, *flags):
  return subprocess.Popen([sys.executable, "-m", "lenet_jax.sweep", *SMOKE,
                           f"--workdir={workdir}", *flags], cwd=ROOT, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True)


def _trained(output: str) -> list[str]:
  """The cells a worker trained (its '[cell k/n] name: 1 seeds; ...' lines)."""
  return re.findall(r"\[cell \d+/\d+\] (\S+): \d+ seeds;", output)


def test_two_workers_at_once_train_every_cell_exactly_once(tmp_path):
  workdir = tmp_path / "sweep"
  # Overlapping shards (both take every cell): the claims alone keep them apart.
  workers = [_worker(workdir, "--shard=0/1"), _worker(workdir, "--shard=0/1")]
  outputs = [w.communicate(timeout=300)[0] for w in workers]
  assert [w.returncode for w in workers] == [0, 0], outputs
  trained = _trained(outputs[0]) + _trained(outputs[1])
  assert sorted(trained) == sorted(CELLS), outputs
  assert "left to it" in outputs[0] + outputs[1]
  with open(workdir / "results.csv") as f:
    assert len(f.read().splitlines()) == 1 + len(CELLS)  # the last worker wrote them
  assert not list(workdir.glob("*/claim*.json"))


def test_a_killed_worker_s_cell_is_taken_over_and_resumed(tmp_path):
  workdir = tmp_path / "sweep"
  first = _worker(workdir, "--shard=0/4")  # one cell: 3 epochs, checkpointed each epoch
  cell = workdir / sweeps.cell_dir(sweeps.load("configs/lenet5.py", "smoke")[0])
  deadline = time.time() + 120
  while time.time() < deadline and first.poll() is None:
    if (cell / "checkpoints").is_dir() and any(p.name.isdigit()
                                               for p in (cell / "checkpoints").iterdir()):
      break  # the first epoch's checkpoint is finished
    time.sleep(0.02)
  first.send_signal(signal.SIGKILL)
  first.communicate()
  if (cell / "result.json").exists() or (cell / "checkpoints/6").exists():
    pytest.skip("the worker finished its cell before it could be killed")
  assert (cell / claims.CLAIM).exists()  # left behind by the dead worker
  _, missing = runner.collect(sweeps.load("configs/lenet5.py", "smoke"), str(workdir))
  assert missing[0] == f"{CELLS[0]} (stopped: its worker, shard 0/4 (pid {first.pid} on " \
      f"{claims.owner()['host']}), is gone)"
  second = _worker(workdir, "--shard=0/4")
  out = second.communicate(timeout=300)[0]
  assert second.returncode == 0, out
  assert f"{CELLS[0]}: taking over from shard 0/4 (pid {first.pid}" in out
  assert "Resuming 1 seeds from the checkpoint" in out
  assert (cell / "result.json").exists() and not (cell / claims.CLAIM).exists()
  assert "3 of 4 cells" not in out and "1 of 4 cells finished; left to other workers" in out


def test_collect_after_partial_completion_names_the_missing_cells(tmp_path, capsys):
  workdir = str(tmp_path / "sweep")
  cells = [{"model.pooling": "avg"}, {"model.pooling": "max"}, {"model.activation": "tanh"}]
  config = _small(num_epochs=1)
  assert runner.run_sweep(config, cells, workdir, 1, shard=(1, 2)) is None
  out = capsys.readouterr().out
  assert _trained(out) == ["pooling=max"]
  assert "1 of 3 cells finished; left to other workers: pooling=avg (not started); " \
         "activation=tanh (not started)" in out
  # A live claim (this process) is named as such.
  live = claims.acquire(os.path.join(workdir, sweeps.cell_dir(cells[0])), "0/2", 300.0)[0]
  rows, missing = runner.write_collected(cells, workdir)
  live.release()
  assert [r["cell"] for r in rows] == ["pooling=max"]
  assert missing[0].startswith("pooling=avg (being trained by shard 0/2 (pid ")
  with open(os.path.join(workdir, "results.md")) as f:
    assert "Unfinished (2 of 3 cells)" in f.read()
  assert runner.run_sweep(config, cells, workdir, 1, shard=(0, 2)) is not None  # completes it


def test_shard_flag_and_slurm_defaults(monkeypatch):
  monkeypatch.delenv("SLURM_ARRAY_TASK_ID", raising=False)
  assert runner.parse_shard(None) == (0, 1)
  monkeypatch.setenv("SLURM_ARRAY_TASK_ID", "3")
  monkeypatch.setenv("SLURM_ARRAY_TASK_COUNT", "4")
  assert runner.parse_shard(None) == (3, 4) and runner.parse_shard("1/2") == (1, 2)
  monkeypatch.setenv("SLURM_ARRAY_TASK_ID", "4")
  with pytest.raises(UserError, match=r"SLURM_ARRAY_TASK_ID/SLURM_ARRAY_TASK_COUNT=4/4: I must"):
    runner.parse_shard(None)
  with pytest.raises(UserError, match=r"--shard='two': expected I/N"):
    runner.parse_shard("two")


def test_a_stale_claim_is_taken_over_once(tmp_path):
  directory = str(tmp_path / "cell")
  os.makedirs(directory)
  dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                        capture_output=True, text=True).stdout.strip()
  with open(os.path.join(directory, claims.CLAIM), "w") as f:
    f.write('{"host": "%s", "pid": %s, "shard": "1/2", "started": "x"}'
            % (claims.owner()["host"], dead))
  mine, old = claims.acquire(directory, "0/2", 300.0)
  assert mine is not None and old["pid"] == int(dead)
  again, holder = claims.acquire(directory, "0/2", 300.0)  # now held by a live worker: this one
  assert again is None and holder["pid"] == os.getpid()
  mine.release()
  # Another host's claim is stale only once it has not been refreshed for the timeout.
  with open(os.path.join(directory, claims.CLAIM), "w") as f:
    f.write('{"host": "elsewhere", "pid": 1, "shard": "1/2", "started": "y"}')
  assert claims.acquire(directory, "0/2", 300.0)[0] is None
  old_time = time.time() - 400
  os.utime(os.path.join(directory, claims.CLAIM), (old_time, old_time))
  taken, old = claims.acquire(directory, "0/2", 300.0)
  assert taken is not None and old["host"] == "elsewhere"
  taken.release()

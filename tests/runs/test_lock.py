"""One writer at a time in a run directory (`lenet_jax.runs.lock`): a second training on
the same --workdir stops at once with one line naming the first; a killed holder's lock
needs no hand cleaning; readers still read a run being trained."""

import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from conftest import MNIST_TEST_DIR, ROOT, assert_one_line_error, run_command, start_command
from lenet_jax.common.errors import UserError
from lenet_jax.runs import lock, metrics

RUN = ["--config=configs/lenet5.py", "--config.data.source=embedded", "--config.batch_size=50",
       "--config.num_epochs=40"]


def _wait_for(path, proc, timeout=120):
  deadline = time.time() + timeout
  while time.time() < deadline and proc.poll() is None and not os.path.exists(path):
    time.sleep(0.05)
  assert os.path.exists(path), proc.communicate()


def test_a_second_training_on_the_same_workdir_stops_at_once_naming_the_first(tmp_path):
  workdir = str(tmp_path / "run")
  first = start_command("lenet_jax.main", *RUN, f"--workdir={workdir}")
  try:
    _wait_for(os.path.join(workdir, "checkpoints"), first)  # training, with a checkpoint
    second = run_command("lenet_jax.main", *RUN, f"--workdir={workdir}")
    assert_one_line_error(second, f"{workdir} is being written by lenet_jax training "
                          f"(pid {first.pid} on {socket.gethostname()}, since ")
    # a reader is not a writer: evaluate scores the newest finished checkpoint meanwhile
    reader = run_command("lenet_jax.evaluate", f"--workdir={workdir}",
                         "--config.data.source=idx", f"--config.data.dir={MNIST_TEST_DIR}")
    assert reader.returncode == 0, reader.stderr
  finally:
    first.send_signal(signal.SIGTERM)
    out, _ = first.communicate(timeout=120)
  assert "checkpoint saved" in out
  assert not os.path.exists(os.path.join(workdir, lock.LOCK))  # released on the way out
  records = metrics.read(workdir)
  assert [r["epoch"] for r in records] == list(range(1, len(records) + 1))  # each epoch once


def test_a_killed_holder_s_lock_is_taken_over_without_cleaning(tmp_path):
  workdir = str(tmp_path / "run")
  first = start_command("lenet_jax.main", *RUN, f"--workdir={workdir}")
  _wait_for(os.path.join(workdir, lock.LOCK), first)
  first.send_signal(signal.SIGKILL)
  first.communicate()
  assert lock.read(workdir)["pid"] == first.pid  # left behind
  # the same command, for one epoch more than were trained: takes the run over
  done = len(metrics.read(workdir))
  again = run_command("lenet_jax.main", *RUN[:-1], f"--config.num_epochs={done + 1}",
                      f"--workdir={workdir}")
  assert again.returncode == 0, again.stderr
  assert not os.path.exists(os.path.join(workdir, lock.LOCK))


def test_a_lock_names_its_holder_and_a_garbled_one_goes_stale(tmp_path):
  directory = str(tmp_path / "run")
  with lock.hold(directory, "lenet_jax training") as held:
    holder = lock.read(directory)
    assert (holder["pid"], holder["host"], holder["what"]) == (
        os.getpid(), socket.gethostname(), "lenet_jax training")
    other = subprocess.run([sys.executable, "-c", "from lenet_jax.runs import lock; "
                            f"lock.hold({directory!r}, 'x')"], capture_output=True, text=True,
                           cwd=ROOT)
    assert "is being written by lenet_jax training (pid" in other.stderr
    assert held.path == os.path.join(directory, lock.LOCK)
  assert not os.path.exists(directory)  # made for the lock, nothing written: removed again
  os.makedirs(directory)
  with open(os.path.join(directory, lock.LOCK), "w") as f:
    f.write("{")  # a holder killed while writing it
  with pytest.raises(UserError, match="being written by another process"):
    lock.hold(directory, "x")
  old = time.time() - 60
  os.utime(os.path.join(directory, lock.LOCK), (old, old))
  with lock.hold(directory, "x"):
    assert lock.read(directory)["what"] == "x"


def test_a_reused_pid_does_not_keep_a_dead_holder_alive(tmp_path):
  directory = str(tmp_path / "run")
  os.makedirs(directory)
  me = lock.owner("old")
  me["process_start"] = "1"  # this pid, but a process that started at another time
  with open(os.path.join(directory, lock.LOCK), "w") as f:
    json.dump(me, f)
  with lock.hold(directory, "new"):
    assert lock.read(directory)["what"] == "new"

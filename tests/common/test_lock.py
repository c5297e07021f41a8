"""One writer at a time in a run directory (`lenet_jax.common.lock`): a second training on
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
from lenet_jax.common import lock
from lenet_jax.runs import metrics

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
    # nested: a run inside the run, and a sweep over the directory holding it
    inside = run_command("lenet_jax.main", *RUN, f"--workdir={workdir}/inner")
    assert_one_line_error(inside, f"{workdir}/inner lies under {workdir}, which lenet_jax "
                          f"training (pid {first.pid}")
    over = run_command("lenet_jax.sweep", "--config=configs/lenet5.py", "--sweep=smoke",
                       f"--workdir={tmp_path}")
    assert_one_line_error(over, f"{tmp_path} holds {workdir}, which lenet_jax training")
    assert sorted(os.listdir(tmp_path)) == ["run"]  # no sweep.json, no cell
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


def test_main_inside_a_sweep_being_trained_is_refused_and_the_sweep_stays_whole(tmp_path):
  root = tmp_path / "sweep"
  sweep = start_command("lenet_jax.sweep", "--config=configs/lenet5.py", "--sweep=ablations",
                        "--config.data.source=embedded", "--config.num_epochs=40",
                        "--checkpoint_secs=0", f"--workdir={root}")
  cell = root / "activation=relu,pooling=max"
  try:
    _wait_for(str(cell / "seed_0" / "metrics.jsonl"), sweep)  # its first cell trains
    for directory, expected in ((cell / "seed_0", f"lies under {cell}, which lenet_jax.sweep"),
                                (cell, f"{cell} is being written by lenet_jax.sweep"),
                                (root, f"{root} is being written by lenet_jax.sweep")):
      refused = run_command("lenet_jax.main", *RUN, f"--workdir={directory}")
      assert_one_line_error(refused, expected)
    # a second sweep of another grid in the same root: its cells would mix with these
    recorded = (root / "sweep.json").read_text()
    other = run_command("lenet_jax.sweep", "--config=configs/lenet5.py", "--sweep=smoke",
                        "--config.data.source=embedded", f"--workdir={root}")
    assert_one_line_error(other, "is being swept with other cells")
    assert (root / "sweep.json").read_text() == recorded
  finally:
    sweep.send_signal(signal.SIGTERM)
    out, err = sweep.communicate(timeout=120)
  assert sweep.returncode == 128 + signal.SIGTERM, out + err
  records = metrics.read(str(cell / "seed_0"))
  assert [r["epoch"] for r in records] == list(range(1, len(records) + 1))  # the sweep's own
  assert not (cell / "seed_0" / "config_history.jsonl").exists()


def test_a_killed_holder_s_lock_is_taken_over_without_cleaning(tmp_path):
  workdir = str(tmp_path / "run")
  first = start_command("lenet_jax.main", *RUN, f"--workdir={workdir}")
  _wait_for(os.path.join(workdir, lock.LOCK), first)
  while "pid" not in (lock.read(workdir) or {}):  # created, then written: a kill between
    assert first.poll() is None, first.communicate()  # leaves an unreadable lock (tested
    time.sleep(0.01)                                   # below)
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
    other = subprocess.run([sys.executable, "-c", "from lenet_jax.common import lock; "
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


def _holder(directory, **kwargs):
  """A process (not this one) holding `directory`'s lock until killed."""
  code = ("import sys, time; from lenet_jax.common import lock; "
          f"held, _ = lock.acquire({str(directory)!r}, 'holder', **{kwargs!r}); "
          "print('held' if held else 'refused', flush=True); time.sleep(600)")
  proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True,
                          cwd=ROOT)
  assert proc.stdout.readline().strip() == "held"
  return proc


def _refused(directory, relation, where, **kwargs):
  held, holder = lock.acquire(str(directory), "writer", **kwargs)
  assert held is None, f"{directory} was not refused"
  assert (holder["relation"], holder["directory"]) == (relation, os.path.realpath(where))
  return lock.refusal(str(directory), holder)


def test_a_held_directory_refuses_writers_in_it_above_it_and_below_it(tmp_path):
  run = tmp_path / "runs" / "run"
  holder = _holder(run)
  try:
    assert "is being written by holder (pid" in _refused(run, "in", run)
    assert f"lies under {run}, which holder" in _refused(run / "seed_0", "above", run)
    assert f"holds {run}, which holder" in _refused(tmp_path / "runs", "below", run)
    assert not (run / "seed_0").exists()  # a refused writer leaves nothing behind
    with lock.hold(str(tmp_path / "elsewhere"), "writer"):  # a sibling is free
      pass
  finally:
    holder.kill()
    holder.communicate()
  # the holder was killed: every one of those is free now, with nothing cleaned by hand
  for directory in (run, run / "seed_0", tmp_path / "runs"):
    with lock.hold(str(directory), "writer"):
      pass


def test_a_sweep_s_workers_share_its_root_and_nothing_else_writes_under_it(tmp_path):
  root, cell = tmp_path / "sweep", tmp_path / "sweep" / "cell"
  worker = _holder(root, shared=True)
  try:
    with lock.hold(str(root), "worker 2", shared=True):  # a second worker of the sweep
      claim, _ = lock.acquire(str(cell), "worker 2", within=str(root))
      assert claim is not None  # a cell claim inside the root both workers hold
      claim.release()
    _refused(root, "in", root)  # main on the sweep's root
    assert f"lies under {root}" in _refused(cell / "seed_0", "above", root)  # main in a cell
  finally:
    worker.kill()
    worker.communicate()
  claim = _holder(cell, within=str(root))  # another worker's claim of a cell
  try:
    with lock.hold(str(root), "worker 2", shared=True):  # the sweep's root: shared
      pass
    assert f"lies under {cell}" in _refused(cell / "seed_0", "above", cell)
    assert f"holds {cell}" in _refused(root, "below", cell)  # main on the root
    _refused(tmp_path, "below", cell, shared=True)  # a sweep over the sweep
  finally:
    claim.kill()
    claim.communicate()

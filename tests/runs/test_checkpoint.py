"""Damaged checkpoints: the newest one that restores is used, each skipped one named in a
line; none restoring, or a full disk, is one `error:` line."""

import os
import resource
import shutil
import signal

import pytest

from conftest import run_command, tiny_config
from lenet_jax.common.errors import UserError
from lenet_jax.runs import evaluate, metrics, run_record
from lenet_jax.training import train


def _files(step_dir):
  return sorted(os.path.join(r, f) for r, _, fs in os.walk(step_dir) for f in fs)


def _damage(path, how):
  if how == "deleted":
    os.remove(path)
  elif how == "truncated":
    with open(path, "r+b") as f:
      f.truncate(max(0, os.path.getsize(path) // 2))
  else:  # garbled: same size, other bytes
    with open(path, "r+b") as f:
      f.seek(os.path.getsize(path) // 2)
      f.write(b"\xff\x00\xff\x00")


@pytest.fixture(scope="module")
def trained_two_epochs(tmp_path_factory):
  workdir = str(tmp_path_factory.mktemp("two_epochs") / "run")
  train.train_and_evaluate(tiny_config(num_epochs=2), workdir)
  return workdir


@pytest.fixture
def two_epochs(trained_two_epochs, tmp_path):
  """A copy of a finished two-epoch run, this test's to damage and train again."""
  workdir = str(tmp_path / "run")
  shutil.copytree(trained_two_epochs, workdir)
  return workdir


@pytest.mark.full_xla  # trains the tiny LeNet-5 for epochs: its execution repays optimisation
@pytest.mark.parametrize("target,how", [
    ("default/_METADATA", "deleted"),
    ("default/ocdbt.process_0/manifest.ocdbt", "truncated"),  # the per-process manifest
    ("default/ocdbt.process_0/d/", "garbled"),  # a data file
])
def test_a_damaged_newest_checkpoint_falls_back_to_the_older(two_epochs, capsys, target, how):
  step_dir = os.path.join(two_epochs, "checkpoints", "160")
  path = os.path.join(step_dir, target)
  if target.endswith("/"):
    path = _files(path)[0]
  _damage(path, how)
  record = evaluate.evaluate_run(run_record.load_config(two_epochs), two_epochs)
  out = capsys.readouterr().out
  assert record["step"] == 80
  assert out.count("warning: the checkpoint of step 160") == 1 and "Traceback" not in out
  # Training sets the damaged one aside (not deleted) and trains epoch 2 again.
  result = train.train_and_evaluate(tiny_config(num_epochs=2), two_epochs)
  assert int(result["state"]["step"]) == 160
  assert os.listdir(os.path.join(two_epochs, "checkpoints_unreadable")) == ["160"]
  assert [r["epoch"] for r in metrics.read(two_epochs)] == [1, 2]


def test_no_checkpoint_restoring_is_one_user_error(two_epochs):
  for step in ("80", "160"):
    os.remove(os.path.join(two_epochs, "checkpoints", step, "default", "_METADATA"))
  with pytest.raises(UserError, match="no checkpoint in .* can be restored .*step 160.*step 80"):
    evaluate.evaluate_run(run_record.load_config(two_epochs), two_epochs)


def _limit_file_size():
  signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG
  resource.setrlimit(resource.RLIMIT_FSIZE, (200_000, 200_000))


def test_a_write_that_fails_ends_in_one_short_line(tmp_path):
  # Files over 200 kB cannot be written, as on a full disk: LeNet-5's checkpoint holds
  # 3 x 61,706 floats. orbax's writer threads used to print hundreds of lines first.
  proc = run_command("lenet_jax.main", "--config=configs/lenet5.py", f"--workdir={tmp_path}",
                     "--config.data.source=embedded", "--config.num_epochs=2",
                     preexec_fn=_limit_file_size)
  assert proc.returncode == 1
  lines = proc.stderr.splitlines()
  assert "Traceback" not in proc.stderr and len(lines) < 20, proc.stderr[-3000:]
  error = lines[-1]
  assert error.startswith("error: the checkpoint of step 20 could not be written"), error
  assert "(File too large)" in error and len(error) < 300

"""Runs survive SIGKILL, SIGTERM and divergence; identical runs are identical."""

import os
import random
import re
import signal
import sys
import time

import numpy as np
import pytest

from conftest import ROOT, SMALL_SYNTHETIC, run_command, start_command, tiny_config
from lenet_jax import data
from lenet_jax.runs import validation
from lenet_jax.runs import load, metrics, run_record
from lenet_jax.training import train

sys.path.insert(0, os.path.join(ROOT, "experiments", "reliability"))
import kill_resume  # noqa: E402

pytestmark = pytest.mark.full_xla  # runs of whole epochs: see tests/conftest.py


def _flags(args):
  """kill_resume's command without its `python -m lenet_jax.main`."""
  assert args[:3] == [sys.executable, "-m", "lenet_jax.main"]
  return args[3:]


def _start(args):
  """Starts kill_resume's command as the suite starts commands (tests/conftest.py)."""
  return start_command("lenet_jax.main", *_flags(args))


# kill_resume's network with BatchNorm: its running statistics are state the step changes
# besides the parameters and the optimizer's, and must come back bitwise too. Trained on
# 1,000 synthetic images (10 steps an epoch, 200 test images) in place of the 4,000 digits:
# the kills need every moment of a run (start-up, steps, evaluations, checkpoint writes,
# restores), not its accuracy, and a run takes a third of the time.
SMALL = ("--config.data.name=synthetic", "--config.data.source=synthetic",
         "--config.data.synthetic_train_size=1000", "--config.data.synthetic_test_size=200")
BATCHNORM = ("--config.model.norm=batchnorm", *SMALL)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
  """An uninterrupted run, and the seconds a second one took: (its directory, seconds).
  The first run compiles; the second, like every restart of a killed run, reads its
  programs from the compilation cache, and must end with the same parameters and metrics."""
  workdir = str(tmp_path_factory.mktemp("reference"))
  kill_resume.train(workdir, _start, BATCHNORM)
  again = str(tmp_path_factory.mktemp("again"))
  start = time.monotonic()
  kill_resume.train(again, _start, BATCHNORM)
  seconds = time.monotonic() - start
  assert kill_resume.check(workdir, again) == (True, True)
  return workdir, seconds


def test_sigkill_at_random_moments_loses_nothing(reference, tmp_path):
  reference, seconds = reference
  rng = random.Random(1)
  killed = tries = 0
  while killed < 2 and tries < 10:
    workdir = str(tmp_path / f"run{tries}")
    tries += 1
    # Kills anywhere in a run (start-up, a step, an evaluation, a checkpoint write, a
    # restore), each followed by a restart, as in kill_resume's points; a run that ends
    # before its kill ends the chain.
    delays = [rng.uniform(0.05 * seconds, 0.9 * seconds) for _ in range(2 - killed)]
    kills = kill_resume.train_with_kills(workdir, delays, _start, BATCHNORM)
    if kills:
      killed += kills
      same_params, same_metrics = kill_resume.check(reference, workdir)
      assert same_params and same_metrics, workdir
  assert killed == 2, f"{tries} runs, {killed} kills before the runs ended"


def test_sigkill_with_batchnorm_resumes_its_statistics_bitwise(reference, tmp_path):
  # Killed after epoch 1's checkpoint (in epoch 2, or in epoch 3 when epoch 2's 10 steps
  # and checkpoint came first), a run must resume BatchNorm's running statistics (and the
  # parameters) from that checkpoint bitwise.
  reference, _ = reference
  workdir = tmp_path / "killed"
  proc = _start(kill_resume.command(str(workdir), BATCHNORM))
  for line in proc.stdout:
    if line.startswith("epoch   1/3"):
      break
  while not (workdir / "checkpoints" / "10").is_dir():  # orbax renames it in when whole
    assert proc.poll() is None, "the run ended before the kill"
    time.sleep(0.01)
  proc.send_signal(signal.SIGKILL)
  assert proc.wait() == -signal.SIGKILL
  resumed = run_command("lenet_jax.main",
                        *_flags(kill_resume.command(str(workdir), BATCHNORM)))
  assert resumed.returncode == 0, resumed.stderr[-2000:]
  # epoch 1's checkpoint, or epoch 2's when the kill came after its 10 steps
  assert re.search(r"Resuming from the checkpoint at step (10|20) ", resumed.stdout)
  assert kill_resume.check(reference, str(workdir)) == (True, True)
  _, state, task = load.load_state(run_record.load_config(str(workdir)), str(workdir))
  assert task.has_model_state  # the statistics were among what was compared


def test_sigterm_saves_at_a_step_boundary_and_resumes_exactly(reference, tmp_path):
  reference, _ = reference
  workdir = str(tmp_path / "term")
  proc = start_command("lenet_jax.main", *_flags(kill_resume.command(workdir, BATCHNORM)))
  for line in proc.stdout:  # wait for the first epoch to finish, then stop mid-epoch 2
    if line.startswith("epoch   1/3"):
      break
  proc.send_signal(signal.SIGTERM)
  out, err = proc.communicate(timeout=120)
  assert proc.returncode == 128 + signal.SIGTERM, err[-2000:]
  assert "Traceback" not in err
  # Mid-epoch 2, or at the end of epoch 1 when the signal came during its checkpoint.
  assert "stopped by SIGTERM at " in out and "run the same command to resume" in out
  resumed = run_command("lenet_jax.main", *_flags(kill_resume.command(workdir, BATCHNORM)),
                        timeout=300)
  assert resumed.returncode == 0, resumed.stderr[-2000:]
  assert "Resuming from the checkpoint at step" in resumed.stdout
  assert kill_resume.check(reference, workdir) == (True, True)


def test_divergence_stops_with_one_line_and_keeps_the_last_good_checkpoint(tmp_path):
  workdir = str(tmp_path / "nan")
  # A sane first epoch, then a learning rate that blows up in the second.
  flags = ["--config.optimizer=sgd", "--config.learning_rate=0.01", "--config.schedule=piecewise",
           "--config.piecewise_epochs=(1,)", "--config.piecewise_values=(1e12,)"]
  proc = run_command("lenet_jax.main", *_flags(kill_resume.command(workdir, [*SMALL, *flags])),
                     timeout=300)
  assert proc.returncode == 1 and "Traceback" not in proc.stderr
  error = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
  assert len(error) == 1 and "became NaN or Inf at step" in error[0], proc.stderr[-2000:]
  assert "last good checkpoint: step 10" in error[0]
  config = run_record.load_config(workdir)
  step, state, _ = load.load_state(config, workdir)
  assert step == 10
  assert all(np.all(np.isfinite(x)) for x in jax_leaves(state["params"]))


def jax_leaves(tree):
  import jax
  return [np.asarray(x) for x in jax.tree.leaves(tree)]


def test_same_config_and_seed_give_bitwise_equal_metrics(tmp_path):
  config = tiny_config(num_epochs=2, **SMALL_SYNTHETIC)
  a = train.train_and_evaluate(config, str(tmp_path / "a"))
  b = train.train_and_evaluate(config, str(tmp_path / "b"))
  strip = lambda rs: [{k: v for k, v in r.items() if k not in ("images_per_sec", "seconds")}
                      for r in rs]
  assert strip(metrics.read(str(tmp_path / "a"))) == strip(metrics.read(str(tmp_path / "b")))
  for x, y in zip(jax_leaves(a["state"]["params"]), jax_leaves(b["state"]["params"])):
    np.testing.assert_array_equal(x, y)


def test_unwritable_workdir_is_one_line(tmp_path):
  blocker = tmp_path / "file"
  blocker.write_text("not a directory")
  proc = run_command("lenet_jax.main", *_flags(kill_resume.command(str(blocker / "run"))),
                     timeout=120)
  assert proc.returncode == 1 and "Traceback" not in proc.stderr
  assert f"error: cannot write to {blocker / 'run'} (Not a directory)" in proc.stderr


def test_checkpoint_write_failure_is_one_line_and_keeps_the_previous(tmp_path, monkeypatch):
  from lenet_jax.runs import checkpoint
  from lenet_jax.common.errors import UserError
  workdir = str(tmp_path / "full")
  config = tiny_config(num_epochs=2)
  original = checkpoint.ocp.CheckpointManager.save

  def save(self, step, *args, **kwargs):
    if step > 80:  # the second epoch's checkpoint: the disk is full
      raise OSError(28, "No space left on device")
    return original(self, step, *args, **kwargs)

  monkeypatch.setattr(checkpoint.ocp.CheckpointManager, "save", save)
  with pytest.raises(UserError, match=r"step 160 could not be written .* \(step 80\) is intact"):
    train.train_and_evaluate(config, workdir)
  monkeypatch.setattr(checkpoint.ocp.CheckpointManager, "save", original)
  step, state, _ = load.load_state(config, workdir)
  assert step == 80
  # the epoch whose checkpoint failed is not in the records either
  assert [r["epoch"] for r in metrics.read(workdir)] == [1]


def test_corrupt_tfds_records_are_one_line(monkeypatch):
  import tensorflow_datasets as tfds
  from lenet_jax.common.errors import UserError

  class Corrupt:
    def __len__(self):
      return 3

    def __getitem__(self, i):
      raise ValueError("Failed to read record: data loss (truncated file)")

  monkeypatch.setattr(tfds, "data_source", lambda *a, **k: Corrupt())
  config = tiny_config(**{"data.source": "tfds"})
  with pytest.raises(UserError, match="cannot be read: ValueError: Failed to read record"):
    data.load(config.data, validation.validate(config))


def test_empty_split_is_one_line(tmp_path):
  from lenet_jax.data import idx
  from lenet_jax.common.errors import UserError
  stem_i, stem_l = idx.FILES["test"]
  idx.write(str(tmp_path / stem_i), np.zeros((0, 28, 28), np.uint8))
  idx.write(str(tmp_path / stem_l), np.zeros((0,), np.uint8))
  config = tiny_config(**{"data.source": "idx", "data.dir": str(tmp_path)})
  with pytest.raises(UserError, match="is empty"):
    data.load(config.data, validation.validate(config), ("test",))

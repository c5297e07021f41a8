"""Where commands meet: each way a command failed a user on 2026-12-07 with a traceback, a
silent wrong answer or a stray file, tried as the user tried it (issue: sweep directories
locked, a stop never crashes, a weights file never runs code, evaluate never scores another
network). Nested writers and stop signals have their own files: tests/common/test_lock.py,
tests/training/test_stop_signals.py."""

import json
import os

import jax
import pytest

from conftest import (MNIST_TEST_DIR, SMALL_SYNTHETIC, assert_one_line_error, run_command,
                      tiny_config)
from lenet_jax.common.errors import UserError
from lenet_jax.runs import evaluate, metrics
from lenet_jax.sweeps import sweep
from lenet_jax.weights import init_from

SMOKE = ("--config=configs/lenet5.py", "--sweep=smoke", "--config.data.source=embedded")
UNWRITABLE = "/proc/lenet_jax_test"  # cannot be made, even by root


@pytest.fixture(scope="module")
def sweep_dir(tmp_path_factory):
  """A finished sweep of one cell with two seeds trained together (on a small synthetic
  set: the tests read what the sweep leaves, not what it learnt)."""
  workdir = tmp_path_factory.mktemp("sweep") / "sweep"
  sweep.run_sweep(tiny_config(**SMALL_SYNTHETIC), [{"model.pooling": "avg"}], str(workdir), 2)
  return workdir


@pytest.mark.parametrize("where", ["file", "unwritable"])
def test_a_sweep_workdir_that_cannot_be_written_is_one_line(tmp_path, where):
  workdir = tmp_path / "a_file" if where == "file" else UNWRITABLE
  if where == "file":
    workdir.write_text("x")
  for extra in ((), ("--collect",)):
    assert_one_line_error(run_command("lenet_jax.sweep", *SMOKE, f"--workdir={workdir}", *extra),
                          str(workdir))


def test_a_sweep_over_a_run_is_refused_and_leaves_nothing(finished_run):
  before = sorted(os.listdir(finished_run))
  refused = run_command("lenet_jax.sweep", *SMOKE, f"--workdir={finished_run}")
  assert_one_line_error(refused, f"{finished_run} holds a run of lenet_jax.main")
  assert sorted(os.listdir(finished_run)) == before  # no sweep.json, no cell


def test_main_on_a_sweep_or_its_cell_and_evaluate_on_a_cell_are_one_line(sweep_dir):
  cell = sweep_dir / "pooling=avg"
  for directory, expected in ((sweep_dir, f"{sweep_dir} is a sweep's directory"),
                              (cell, f"{cell} is a sweep cell of 2 seeds trained together")):
    refused = run_command("lenet_jax.main", "--config=configs/lenet5.py",
                          "--config.data.source=embedded", f"--workdir={directory}")
    assert_one_line_error(refused, expected)
  scored = run_command("lenet_jax.evaluate", f"--workdir={cell}")
  line = assert_one_line_error(scored, f"{cell} holds 2 seeds trained together")
  assert f"{cell}/seed_0 ... {cell}/seed_1" in line
  assert "Event loop is closed" not in scored.stderr
  alone = run_command("lenet_jax.evaluate", f"--workdir={cell}/seed_1")  # one seed's run
  assert alone.returncode == 0, alone.stderr


def test_outputs_that_cannot_be_written_are_one_line_before_any_work(tmp_path, trained_run):
  a_file = tmp_path / "a_file"
  a_file.write_text("x")
  workdir = tmp_path / "run"
  for flag in (f"--profile_dir={a_file}", f"--profile_dir={UNWRITABLE}"):
    refused = run_command("lenet_jax.main", "--config=configs/lenet5.py", f"--workdir={workdir}",
                          "--config.data.source=embedded", flag)
    assert_one_line_error(refused, flag)
    assert not workdir.exists()  # nothing half-made
    bench = run_command("lenet_jax.benchmark", "--config=configs/lenet5.py", "--steps=1", flag)
    assert_one_line_error(bench, flag)
  figures = run_command("lenet_jax.figures", f"--workdir={trained_run}", f"--out={a_file}")
  assert_one_line_error(figures, f"--out={a_file} is a file, not a directory")
  figures = run_command("lenet_jax.figures", f"--workdir={trained_run}", f"--out={UNWRITABLE}")
  assert_one_line_error(figures, f"--out={UNWRITABLE} cannot be written")
  predict = run_command("lenet_jax.predict", f"--workdir={trained_run}", "--neighbours=2",
                        f"--out={a_file}/nn.png", str(a_file))
  assert_one_line_error(predict, f"--out={a_file}/nn.png cannot be written")


def test_figures_reads_the_test_split_once(tmp_path, trained_run):
  out = run_command("lenet_jax.figures", f"--workdir={trained_run}", f"--out={tmp_path}",
                    "--misclassified=4")
  assert out.returncode == 0, out.stderr
  assert (out.stdout + out.stderr).count("data: mnist") == 1


def test_a_resume_drops_a_half_written_metrics_line(finished_run):
  with open(finished_run / "metrics.jsonl", "a") as f:
    f.write('{"epoch": 2, "step": 160, "train_lo')  # killed while appending
  again = run_command("lenet_jax.main", "--config=configs/lenet5.py",
                      "--config.data.source=embedded", "--config.batch_size=50",
                      "--config.eval_batch_size=250", "--config.schedule=constant",
                      "--config.num_epochs=2", f"--workdir={finished_run}")
  assert again.returncode == 0, again.stderr
  assert [r["epoch"] for r in metrics.read(str(finished_run))] == [1, 2]
  with open(finished_run / "metrics.jsonl") as f:
    assert all(json.loads(line) for line in f)  # every line whole again


def test_a_metrics_line_damaged_in_the_middle_is_one_line(tmp_path):
  (tmp_path / "metrics.jsonl").write_text('{"epoch": 1}\n{"epo\n{"epoch": 2}\n')
  with pytest.raises(UserError, match=r"metrics.jsonl, line 2 is not a JSON record"):
    metrics.read(str(tmp_path))


def test_a_missing_test_dir_is_named_as_data_test_dir(tmp_path):
  from lenet_jax import data
  from lenet_jax.runs import validation
  config = tiny_config(**{"data.test_dir": str(tmp_path / "nonexistent")})
  with pytest.raises(UserError, match=r"^config\.data\.test_dir="):
    data.load(config.data, validation.validate(config))


def test_init_from_another_family_is_one_line(trained_run, tmp_path):
  from lenet_jax.runs import validation
  from lenet_jax.models import task as task_lib
  config = tiny_config(**{"model.name": "lenet1", "data.pad_to": 28})
  variables = task_lib.Task(config, validation.validate(config)).variables()
  with pytest.raises(UserError, match="is a run of lenet5, this model is lenet1"):
    init_from.variables_from(variables, "lenet1", trained_run, say=lambda *a, **k: None)
  # of its own family, but nothing of the same name and shape: not silently a fresh start
  with pytest.raises(UserError, match="no parameter of that run has a name and shape"):
    init_from.variables_from(jax.tree.map(lambda x: x[..., None], variables), "lenet5",
                             trained_run, say=lambda *a, **k: None)
  # refused before the run loads its data (a missing test_dir would be named otherwise)
  from lenet_jax.training import train
  config.data.test_dir = str(tmp_path / "nonexistent")
  config.init_from = trained_run
  with pytest.raises(UserError, match="is a run of lenet5, this model is lenet1"):
    train.train_and_evaluate(config, str(tmp_path / "fine_tune"))
  assert not (tmp_path / "fine_tune").exists()


def test_readers_refuse_a_changed_network_and_record_scoring_overrides(finished_run):
  refused = run_command("lenet_jax.evaluate", f"--workdir={finished_run}",
                        "--config.model.activation=tanh")
  assert_one_line_error(refused, "--config.model.activation='tanh': the run in",
                        "was trained with 'relu'")
  assert not (finished_run / evaluate.EVALUATIONS).exists()
  for command, args in (("figures", (f"--out={finished_run}/figures",)),
                        ("predict", ("digit.png",))):
    refused = run_command(f"lenet_jax.{command}", f"--workdir={finished_run}",
                          "--config.data.normalization=paper", *args)
    assert_one_line_error(refused, "--config.data.normalization='paper'")
  scored = run_command("lenet_jax.evaluate", f"--workdir={finished_run}",
                       "--config.eval_batch_size=100", "--config.data.source=idx",
                       f"--config.data.dir={MNIST_TEST_DIR}")
  assert scored.returncode == 0, scored.stderr
  record = metrics.read_jsonl(str(finished_run / evaluate.EVALUATIONS))[-1]
  assert record["overrides"] == {"eval_batch_size": [250, 100], "data.source": ["embedded", "idx"],
                                 "data.dir": ["", MNIST_TEST_DIR]}


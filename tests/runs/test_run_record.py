"""A run's config.json is written when it starts and never overwritten; a resume may
change only resumable keys, and those changes go to config_history.jsonl."""

import json
import os

import pytest

from conftest import tiny_config
from lenet_jax.runs import run_record
from lenet_jax.training import train
from lenet_jax.common.errors import ConfigError, UserError


def test_resume_with_another_model_is_refused_before_anything_is_written(finished_run):
  before = (finished_run / "config.json").read_bytes()
  with pytest.raises(UserError, match=r"config\.model\.c3 was 'full', now 'table'"):
    train.train_and_evaluate(tiny_config(**{"model.c3": "table"}), str(finished_run))
  assert (finished_run / "config.json").read_bytes() == before
  assert not (finished_run / run_record.HISTORY).exists()
  assert run_record.load_config(str(finished_run)).model.c3 == "full"


def test_a_change_that_trains_nothing_is_not_recorded(finished_run):
  before = (finished_run / "config.json").read_bytes()
  train.train_and_evaluate(tiny_config(learning_rate=0.1), str(finished_run))  # already finished
  assert (finished_run / "config.json").read_bytes() == before
  assert not (finished_run / run_record.HISTORY).exists()


def test_resumable_changes_go_to_the_history(finished_run):
  train.train_and_evaluate(tiny_config(num_epochs=2, learning_rate=1e-3), str(finished_run))
  with open(finished_run / "config.json") as f:
    assert json.load(f)["num_epochs"] == 1  # as started
  with open(finished_run / run_record.HISTORY) as f:
    (entry,) = [json.loads(line) for line in f]
  assert entry["changed"] == {"learning_rate": [2e-3, 1e-3], "num_epochs": [1, 2]}
  now = run_record.load_config(str(finished_run))
  assert now.num_epochs == 2 and now.learning_rate == 1e-3


def test_a_run_refused_after_loading_its_data_leaves_no_workdir(tmp_path):
  workdir = tmp_path / "run"
  with pytest.raises(ConfigError, match="batch_size"):
    train.train_and_evaluate(tiny_config(batch_size=5000), str(workdir))
  assert not workdir.exists()


def test_resume_message_never_names_an_epoch_past_the_last(finished_run, capsys):
  capsys.readouterr()
  train.train_and_evaluate(tiny_config(), str(finished_run))
  out = capsys.readouterr().out
  assert "Resuming" not in out and "already holds all 1 epochs" in out


def test_load_config_gives_tuples_back(finished_run):
  assert isinstance(run_record.load_config(str(finished_run)).data.synthetic_shape, tuple)
  assert os.path.isfile(finished_run / run_record.VERSIONS)

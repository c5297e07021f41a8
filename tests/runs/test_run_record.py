"""A run's config.json is written when it starts and never overwritten; a resume may
change only resumable keys, and those changes go to config_history.jsonl."""

import json
import os

import pytest

from conftest import tiny_config
from lenet_jax.runs import run_record
from lenet_jax.training import train
from lenet_jax.common.errors import ConfigError, UserError


def test_resume_with_another_model_is_refused_before_anything_is_written(tmp_path):
  train.train_and_evaluate(tiny_config(), str(tmp_path))
  before = (tmp_path / "config.json").read_bytes()
  with pytest.raises(UserError, match=r"config\.model\.c3 was 'full', now 'table'"):
    train.train_and_evaluate(tiny_config(**{"model.c3": "table"}), str(tmp_path))
  assert (tmp_path / "config.json").read_bytes() == before
  assert not (tmp_path / run_record.HISTORY).exists()
  assert run_record.load_config(str(tmp_path)).model.c3 == "full"


def test_a_change_that_trains_nothing_is_not_recorded(tmp_path):
  train.train_and_evaluate(tiny_config(), str(tmp_path))
  before = (tmp_path / "config.json").read_bytes()
  train.train_and_evaluate(tiny_config(learning_rate=0.1), str(tmp_path))  # already finished
  assert (tmp_path / "config.json").read_bytes() == before
  assert not (tmp_path / run_record.HISTORY).exists()


def test_resumable_changes_go_to_the_history(tmp_path):
  train.train_and_evaluate(tiny_config(), str(tmp_path))
  train.train_and_evaluate(tiny_config(num_epochs=2, learning_rate=1e-3), str(tmp_path))
  with open(tmp_path / "config.json") as f:
    assert json.load(f)["num_epochs"] == 1  # as started
  with open(tmp_path / run_record.HISTORY) as f:
    (entry,) = [json.loads(line) for line in f]
  assert entry["changed"] == {"learning_rate": [2e-3, 1e-3], "num_epochs": [1, 2]}
  now = run_record.load_config(str(tmp_path))
  assert now.num_epochs == 2 and now.learning_rate == 1e-3


def test_a_run_refused_after_loading_its_data_leaves_no_workdir(tmp_path):
  workdir = tmp_path / "run"
  with pytest.raises(ConfigError, match="batch_size"):
    train.train_and_evaluate(tiny_config(batch_size=5000), str(workdir))
  assert not workdir.exists()


def test_resume_message_never_names_an_epoch_past_the_last(tmp_path, capsys):
  train.train_and_evaluate(tiny_config(), str(tmp_path))
  capsys.readouterr()
  train.train_and_evaluate(tiny_config(), str(tmp_path))
  out = capsys.readouterr().out
  assert "Resuming" not in out and "already holds all 1 epochs" in out


def test_load_config_gives_tuples_back(tmp_path):
  train.train_and_evaluate(tiny_config(), str(tmp_path))
  assert isinstance(run_record.load_config(str(tmp_path)).data.synthetic_shape, tuple)
  assert os.path.isfile(tmp_path / run_record.VERSIONS)

"""Boosted LeNet-4: the filters make the sets the paper describes, the committee adds the
members' outputs, and a rerun resumes instead of retraining."""

import json
import os

import numpy as np
import pytest

from conftest import run_command, tiny_config
from configs import lenet4_boosted
from lenet_jax import data
from lenet_jax.common.errors import ConfigError
from lenet_jax.runs import validation
from lenet_jax.data import idx
from lenet_jax.runs import committee, metrics
from lenet_jax.training import boost as boosting


def _config(**overrides):
  config = lenet4_boosted.get_config()
  tiny = tiny_config()
  config.update(num_epochs=1, batch_size=100, eval_batch_size=500, schedule="constant")
  config.data.source = tiny.data.source
  config.boosting.set_size = 1000
  for key, value in overrides.items():
    section, leaf = key.split(".")
    config[section][leaf] = value
  return config


@pytest.fixture(scope="module")
def boosted(tmp_path_factory):
  workdir = str(tmp_path_factory.mktemp("boosted"))
  config = _config()
  return config, workdir, boosting.boost(config, workdir, say=lambda s: None)


def _member_logits(config, workdir, images, which):
  members = [boosting.member_config(config, None if k == 1 else
                                    os.path.join(boosting.member_dir(workdir, k), "filtered"))
             for k in (1, 2, 3)]
  members = committee.Committee(members, [boosting.member_dir(workdir, k) for k in (1, 2, 3)])
  return members.logits(images, which)


def test_member_2_sees_half_right_half_wrong_patterns_of_member_1(boosted):
  config, workdir, result = boosted
  filtered = os.path.join(boosting.member_dir(workdir, 2), "filtered")
  images, labels = idx.load_split(filtered, "train")
  assert len(labels) == 1000
  (z1,) = _member_logits(config, workdir, images, [0])
  assert int(np.sum(z1.argmax(-1) == labels)) == 500  # re-classified by member 1
  stats = result["filters"][0]
  assert (stats["right"], stats["wrong"], stats["size"]) == (500, 500, 1000)
  assert stats["candidates"] >= 1000


def test_member_3_sees_only_patterns_members_1_and_2_disagree_on(boosted):
  config, workdir, result = boosted
  images, _ = idx.load_split(os.path.join(boosting.member_dir(workdir, 3), "filtered"), "train")
  z1, z2 = _member_logits(config, workdir, images, [0, 1])
  assert len(images) == result["filters"][1]["size"] > 0
  assert np.all(z1.argmax(-1) != z2.argmax(-1))


def test_committee_adds_the_members_softmax_outputs(boosted):
  config, workdir, result = boosted
  test_x, test_y = data.load(config.data, validation.validate(config), ("test",)).split("test")
  logits = _member_logits(config, workdir, test_x, None)
  probs = [np.exp(z - z.max(-1, keepdims=True)) for z in logits]
  probs = [p / p.sum(-1, keepdims=True) for p in probs]
  expected = np.mean(sum(probs).argmax(-1) != test_y)
  assert result["committee_test_error"] == pytest.approx(expected)
  assert result["member_test_errors"] == pytest.approx(
      [np.mean(z.argmax(-1) != test_y) for z in logits])
  with open(os.path.join(workdir, boosting.COMMITTEE)) as f:
    assert json.load(f)["committee_test_error"] == result["committee_test_error"]
  # Each member is an ordinary run with its own metrics.
  for k in (1, 2, 3):
    assert len(metrics.read(boosting.member_dir(workdir, k))) == 1


def test_rerun_resumes_without_retraining_or_refiltering(boosted, capsys):
  config, workdir, result = boosted
  stats_path = os.path.join(boosting.member_dir(workdir, 2), "filtered", boosting.FILTER)
  before = os.path.getmtime(stats_path)
  again = boosting.boost(config, workdir, say=print)
  assert again["committee_test_error"] == result["committee_test_error"]
  assert os.path.getmtime(stats_path) == before
  assert capsys.readouterr().out.count("nothing to train") == 3


def test_logits_can_be_added_instead():
  a, b = np.array([[10.0, 0.0]]), np.array([[0.0, 3.0]])
  # Logits: one very confident vote for class 0 outweighs two for class 1 (10 > 6);
  # probabilities: each vote counts at most 1 (1.09 < 1.91).
  assert committee.combined([a, b, b], "logits").argmax() == 0
  assert committee.combined([a, b, b], "probabilities").argmax() == 1


def test_bad_boosting_values_are_one_error_line(tmp_path):
  with pytest.raises(ConfigError, match="boosting.patterns"):
    boosting.validate(_config(**{"boosting.patterns": "bootstrap"}))
  with pytest.raises(ConfigError, match="digit_size"):
    boosting.validate(_config(**{"data.digit_size": 16}))
  proc = run_command("lenet_jax.boost", "--config=configs/lenet4.py", f"--workdir={tmp_path}")
  assert proc.returncode == 1
  assert proc.stderr.strip().splitlines() == [
      "error: configs/lenet4.py has no boosting section; use configs/lenet4_boosted.py or "
      "add one like it"]


def test_committee_command_scores_any_runs_as_boosting_does(boosted, tmp_path):
  config, workdir, result = boosted
  runs = ",".join(boosting.member_dir(workdir, k) for k in (1, 2, 3))
  out = tmp_path / "committee.json"
  proc = run_command("lenet_jax.committee", f"--runs={runs}", f"--out={out}")
  assert proc.returncode == 0, proc.stderr
  # Member 1's config takes the embedded test split, as the boosted run's did.
  scores = json.loads(out.read_text())
  assert scores["committee_test_error"] == pytest.approx(result["committee_test_error"])
  assert scores["member_test_errors"] == pytest.approx(result["member_test_errors"])
  assert "committee of 3 (probabilities added)" in proc.stdout

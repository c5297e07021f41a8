import os
import shutil

import numpy as np
import pytest

from conftest import ROOT, SMALL_SYNTHETIC, run_command, tiny_config
from lenet_jax.common.errors import UserError
from lenet_jax.runs import load, metrics, run_record
from lenet_jax.sweeps import cells as cells_lib
from lenet_jax.sweeps import sweep
from lenet_jax.training import seeds as seeds_lib
from lenet_jax.training import train


def _small(**overrides):
  return tiny_config(**{**SMALL_SYNTHETIC, "num_epochs": 2, **overrides})


@pytest.mark.parametrize("optimizer", ["adamw", "sgd"])
def test_vmapped_seeds_equal_separate_single_seed_runs(tmp_path, optimizer):
  config = _small(optimizer=optimizer, learning_rate=0.01, **{"distortions.enabled": True})
  train.train_and_evaluate(config, str(tmp_path / "together"), seeds=2)
  for k in range(2):
    separate = str(tmp_path / f"seed{k}")
    train.train_and_evaluate(seeds_lib.seed_config(config, config.seed + k), separate)
    a = metrics.read(separate)
    b = metrics.read(seeds_lib.seed_dir(str(tmp_path / "together"), k))
    assert [r["epoch"] for r in b] == [1, 2] and b[0]["seed"] == k
    for key in ("train_loss", "train_accuracy", "test_loss", "test_accuracy"):
      np.testing.assert_allclose([r[key] for r in b], [r[key] for r in a], rtol=2e-5,
                                 err_msg=f"seed {k}, {key}")


def test_shared_order_gives_every_seed_the_base_order(tmp_path):
  config = _small(num_epochs=1, **{"model.activation": "tanh"})
  train.train_and_evaluate(config, str(tmp_path / "shared"), seeds=2, shared_order=True)
  train.train_and_evaluate(config, str(tmp_path / "own"), seeds=2)
  shared = [metrics.read(seeds_lib.seed_dir(str(tmp_path / "shared"), k))[0] for k in range(2)]
  own = [metrics.read(seeds_lib.seed_dir(str(tmp_path / "own"), k))[0] for k in range(2)]
  assert shared[0]["train_loss"] == pytest.approx(own[0]["train_loss"], rel=1e-5)
  assert shared[1]["train_loss"] != pytest.approx(own[1]["train_loss"], rel=1e-5)


def _cells():
  return cells_lib.load(os.path.join(ROOT, "configs", "lenet5.py"), "smoke")


def test_a_2x2_sweep_with_2_seeds_end_to_end_then_resume(tmp_path, capsys, monkeypatch):
  workdir = str(tmp_path / "sweep")
  config = _small()
  cells = _cells()
  assert len(cells) == 4
  rows = sweep.run_sweep(config, cells, workdir, 2)
  out = capsys.readouterr().out
  assert "[cell 1/4] activation=relu,pooling=max,num_epochs=3: 2 seeds" in out and "left" in out

  assert [r["cell"] for r in rows] == [cells_lib.cell_name(c) for c in cells]
  for row, cell in zip(rows, cells):
    directory = os.path.join(workdir, cells_lib.cell_dir(cell))
    finals = [metrics.read(seeds_lib.seed_dir(directory, k))[-1]["test_accuracy"] for k in (0, 1)]
    assert row["test_accuracy_mean"] == pytest.approx(np.mean(finals))
    assert row["test_accuracy_std"] == pytest.approx(np.std(finals, ddof=1))
    assert row["params"] == 61706 and row["epochs"] == 3 and row["seeds"] == [0, 1]
    for k in (0, 1):  # each seed is a run directory of its own, with its final checkpoint
      seed_run = seeds_lib.seed_dir(directory, k)
      step, state, _ = load.load_state(run_record.load_config(seed_run), seed_run)
      assert step == 12 and int(state["step"]) == 12
  with open(os.path.join(workdir, "results.csv")) as f:
    lines = f.read().splitlines()
  assert lines[0].startswith("cell,model.activation,model.pooling,num_epochs,seeds,"
                             "test_accuracy_mean")
  assert (lines[1].startswith("\"activation=relu,pooling=max,num_epochs=3\",relu,max,3,2,")
          and len(lines) == 5)
  with open(os.path.join(workdir, "results.md")) as f:
    assert sum(line.startswith("| ") for line in f) == 5  # header and 4 cells
  # Every seed's final test error, from which each row's mean and std recompute.
  import csv
  with open(os.path.join(workdir, "results_seeds.csv")) as f:
    per_seed = list(csv.DictReader(f))
  assert len(per_seed) == 8 and {r["seed"] for r in per_seed} == {"0", "1"}
  for row in rows:
    errors = [float(r["final_test_error_pct"]) for r in per_seed if r["cell"] == row["cell"]]
    assert np.mean(errors) == pytest.approx(100 * (1 - row["test_accuracy_mean"]), abs=1e-4)
    assert np.std(errors, ddof=1) == pytest.approx(100 * row["test_accuracy_std"], abs=1e-4)
  for name in ("test_error.png", "curves.png"):
    assert os.path.getsize(os.path.join(workdir, name)) > 10_000

  # Resume: finished cells are skipped; an interrupted cell (its last epoch's
  # checkpoint and result lost) continues from its last checkpoint and ends where it did.
  last = os.path.join(workdir, cells_lib.cell_dir(cells[-1]))
  os.remove(os.path.join(last, "result.json"))
  shutil.rmtree(os.path.join(last, "checkpoints", "12"))
  trained = []
  real = train.train_and_evaluate
  monkeypatch.setattr(train, "train_and_evaluate",
                      lambda *a, **k: trained.append(a) or real(*a, **k))
  again = sweep.run_sweep(config, cells, workdir, 2)
  out = capsys.readouterr().out
  assert out.count("finished earlier") == 3 and len(trained) == 1
  assert "Resuming 2 seeds from the checkpoint at step 8 (epoch 3)" in out
  assert again[-1]["test_accuracy"] == pytest.approx(rows[-1]["test_accuracy"], rel=1e-6)


def test_sweep_errors_come_before_anything_trains(tmp_path):
  workdir = str(tmp_path / "sweep")
  with pytest.raises(UserError, match=r"no key 'model.activaton' \(did you mean 'model.activation'"):
    sweep.run_sweep(_small(), [{"model.activaton": "tanh"}], workdir, 2)
  with pytest.raises(UserError, match="sweep cell activation=swish: config.model.activation"):
    sweep.run_sweep(_small(), [{"model.activation": "relu"}, {"model.activation": "swish"}],
                     workdir, 2)
  with pytest.raises(UserError, match="num_epochs='many' does not fit"):
    sweep.run_sweep(_small(), [{"num_epochs": "many"}], workdir, 2)
  with pytest.raises(UserError, match="--seeds=0"):
    sweep.run_sweep(_small(), _cells(), workdir, 0)
  assert not os.path.exists(workdir)


def test_a_changed_base_config_is_refused_for_a_started_sweep(tmp_path):
  workdir = str(tmp_path / "sweep")
  sweep.run_sweep(_small(num_epochs=1), [{"model.pooling": "avg"}], workdir, 1)
  with pytest.raises(UserError, match="config.num_epochs was 1, now 2"):
    sweep.run_sweep(_small(num_epochs=2), [{"model.pooling": "avg"}], workdir, 1)
  with pytest.raises(UserError, match="started with --seeds=1"):
    sweep.run_sweep(_small(num_epochs=1), [{"model.pooling": "avg"}], workdir, 2)


def test_a_worker_with_another_base_config_is_refused_before_a_cell_not_started(tmp_path):
  # Worker 0 of 2 trains its cell; worker 1, started with another num_epochs, would train
  # the other cell (no run there yet to compare with) with it: one sweep, two configs.
  workdir = str(tmp_path / "sweep")
  cells = [{"model.pooling": "avg"}, {"model.pooling": "max"}]
  assert sweep.run_sweep(_small(num_epochs=1), cells, workdir, 1, shard=(0, 2)) is None
  with pytest.raises(UserError, match=r"started with another base config \(config.num_epochs "
                                      r"was 1, now 2\)"):
    sweep.run_sweep(_small(num_epochs=2), cells, workdir, 1, shard=(1, 2))
  assert not os.path.exists(os.path.join(workdir, cells_lib.cell_dir(cells[1])))
  # the sweep's own command (checkpoint_secs aside) joins
  rows = sweep.run_sweep(_small(num_epochs=1), cells, workdir, 1, checkpoint_secs=5,
                         shard=(1, 2))
  assert [r["cell"] for r in rows] == [cells_lib.cell_name(c) for c in cells]


def test_sweep_json_is_written_once_by_the_first_of_two_at_once(tmp_path):
  from lenet_jax.common import files
  path = str(tmp_path / "sweep.json")
  files.write_json(path, {"first": True}, exclusive=True)
  with pytest.raises(FileExistsError):
    files.write_json(path, {"first": False}, exclusive=True)
  assert files.read_json(path) == {"first": True}
  assert os.listdir(tmp_path) == ["sweep.json"]  # no temporary file left


def test_product_and_cell_names():
  cells = cells_lib.product({"model.c3": ["full", "table"], "learning_rate": [1e-3, 0.01]})
  assert cells[1] == {"model.c3": "full", "learning_rate": 0.01} and len(cells) == 4
  assert cells_lib.cell_name(cells[1]) == "c3=full,learning_rate=0.01"
  assert cells_lib.cell_name({"model.init": "paper", "init": 1}) == "model.init=paper,init=1"
  assert cells_lib.cell_dir({"data.dir": "/a b"}) == "dir=_a_b"
  applied = cells_lib.apply(_small(), cells[1])
  assert applied.model.c3 == "full" and applied.learning_rate == 0.01


def test_cli_names_an_unknown_sweep_in_one_line(tmp_path):
  result = run_command("lenet_jax.sweep", "--config=configs/lenet5.py", "--sweep=nope",
                       f"--workdir={tmp_path}")
  assert result.returncode == 1
  assert result.stderr.strip().splitlines()[-1] == (
      "error: --sweep=nope: configs/lenet5.py has no sweep of that name "
      "(sweeps here: ablations, c3_output, optimizer, norm, smoke)")


def test_welch_p_values_against_the_best_cell():
  from scipy import stats
  rows = [{"test_accuracy_mean": 0.97, "test_accuracy_std": 0.002, "seeds": [0, 1, 2]},
          {"test_accuracy_mean": 0.96, "test_accuracy_std": 0.004, "seeds": [0, 1, 2, 3]}]
  p = sweep.results_lib.welch_p_vs_best(rows)
  assert p[0] is None
  # the same test from per-seed values with these means and standard deviations
  a = np.array([0.968, 0.970, 0.972])
  b = 0.96 + 0.004 * np.array([-1.0, -1.0, 1.0, 1.0]) * np.sqrt(3 / 4)
  assert a.std(ddof=1) == pytest.approx(0.002) and b.std(ddof=1) == pytest.approx(0.004)
  assert p[1] == pytest.approx(stats.ttest_ind(b, a, equal_var=False).pvalue, rel=1e-6)


@pytest.mark.full_xla  # programs for 1, 2 and 4 devices compared at rounding tolerance
def test_seeds_sharded_over_devices_equal_the_one_device_run(tmp_path):
  """4 seeds trained on one device, then in one program over 4 fake CPU devices (one seed
  each) and over 2 (two each): the same metrics and parameters."""
  import jax
  assert jax.device_count() >= 4
  config = _small(num_epochs=1, **{"data.synthetic_train_size": 100})
  one = train.train_and_evaluate(config, str(tmp_path / "one"), seeds=4)
  for devices in (4, 2):
    spread = train.train_and_evaluate(config, str(tmp_path / f"spread{devices}"), seeds=4,
                                      seed_devices=devices)
    leaf = jax.tree.leaves(spread["state"]["params"])[0]
    assert len(leaf.sharding.device_set) == devices  # the seed axis really is spread
    for k in range(4):
      a, b = one["history"][k][-1], spread["history"][k][-1]
      for key in ("train_loss", "test_loss", "test_accuracy"):
        np.testing.assert_allclose(b[key], a[key], rtol=1e-5,
                                   err_msg=f"{devices} devices, seed {k}, {key}")
    for a, b in zip(jax.tree.leaves(one["state"]["params"]),
                    jax.tree.leaves(spread["state"]["params"])):
      np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-6)


def test_seed_devices_must_divide_the_seeds():
  with pytest.raises(UserError, match="3 seeds must divide evenly"):
    seeds_lib.seed_mesh(3, 2)
  # auto: the most of the host's 4 devices that divide the seeds
  assert seeds_lib.seed_mesh(5, 0) is None and seeds_lib.seed_mesh(3, 0).devices.size == 3
  assert seeds_lib.seed_mesh(8, 0).devices.size == 4 and seeds_lib.seed_mesh(8, 1) is None


def test_a_command_line_key_a_cell_sets_again_is_named():
  # `sweep --config.num_epochs=1` over cells that set their own num_epochs: the cells'
  # values train, and the note says so.
  cells = [{"num_epochs": 3, "model.activation": "relu"}, {"num_epochs": 5}]
  notes = sweep.overridden(cells, ["num_epochs", "learning_rate"])
  assert notes == ["note: the sweep's cells set num_epochs (3, 5), which is what they train "
                   "with, over --config.num_epochs"]

"""Runs every cell of a sweep, resumably, then writes its tables and plots.

  <workdir>/sweep.json             the cells and seeds this sweep was started with
  <workdir>/<cell>/                one `lenet_jax.sweeps.seeds` run per cell
  <workdir>/<cell>/result.json     written when the cell is finished: re-running skips it
  <workdir>/results.{csv,md}, test_error.png, curves.png
"""

import json
import os
import time

import numpy as np

from lenet_jax import preemption, run_record, sweeps, validation
from lenet_jax.errors import UserError
from lenet_jax.sweeps import results as results_lib
from lenet_jax.sweeps import seeds as seeds_lib


def _normal(value):
  return json.loads(json.dumps(value))  # tuples -> lists, as stored


def _read_json(path):
  if not os.path.isfile(path):
    return None
  with open(path) as f:
    return json.load(f)


def _write_json(path, value) -> None:
  tmp = path + ".tmp"
  with open(tmp, "w") as f:
    json.dump(value, f, indent=2)
  os.replace(tmp, path)  # a result.json is whole or absent


def _duration(seconds: float) -> str:
  seconds = int(round(seconds))
  h, rest = divmod(seconds, 3600)
  m, s = divmod(rest, 60)
  return f"{h}h{m:02d}m" if h else f"{m}m{s:02d}s"


def check_cells(config, cells) -> list:
  """Every cell's config, validated before anything trains (one line on the first bad one)."""
  configs = []
  for overrides in cells:
    cell_config = sweeps.apply(config, overrides)
    try:
      validation.validate(cell_config)
    except UserError as e:
      raise UserError(f"sweep cell {sweeps.cell_name(overrides)}: {e}") from None
    configs.append(cell_config)
  return configs


def _check_same_config(cell_config, directory: str, name: str) -> None:
  """A cell started earlier must have been started with the same config, or its
  results would silently mix two configs."""
  try:
    run_record.check_resume(directory, cell_config, resumable=())
  except UserError as e:
    raise UserError(f"sweep cell {name}: {e}") from None


def summarize(overrides: dict, out: dict) -> dict:
  """One cell's row: final test accuracy over seeds, the best epoch of the seed mean, time."""
  histories = out["history"]
  final = np.array([h[-1]["test_accuracy"] for h in histories])
  curve = np.mean([[r["test_accuracy"] for r in h] for h in histories], axis=0)
  std = float(final.std(ddof=1)) if len(final) > 1 else 0.0
  top5 = {}
  if "test_top5_accuracy" in histories[0][-1]:
    finals5 = np.array([h[-1]["test_top5_accuracy"] for h in histories])
    top5 = {"test_top5_accuracy": finals5.tolist(),
            "test_top5_accuracy_mean": float(finals5.mean()),
            "test_top5_accuracy_std": float(finals5.std(ddof=1)) if len(finals5) > 1 else 0.0}
  return {**top5,
      "cell": sweeps.cell_name(overrides), "overrides": _normal(overrides),
      "seeds": out["seeds"], "test_accuracy": final.tolist(),
      "test_accuracy_mean": float(final.mean()), "test_accuracy_std": std,
      "best_epoch": int(histories[0][int(np.argmax(curve))]["epoch"]),
      "best_test_accuracy_mean": float(curve.max()), "epochs": len(histories[0]),
      "wall_s": float(sum(r["seconds"] for r in histories[0])), "params": out["params"],
      "diverged_seeds": sum(any("nonfinite_step" in r for r in h) for h in histories),
      "data_source": out["data_source"],
  }


def run_sweep(config, cells, workdir: str, num_seeds: int, shared_order: bool = False,
              checkpoint_secs: float = 0.0, seed_devices: int = 1) -> list:
  """Trains every cell of `cells` (override dicts) with `num_seeds` seeds; returns the rows.

  Finished cells (those with a result.json for the same overrides and seeds) are
  skipped and an interrupted one continues from its last checkpoint (written
  every `checkpoint_secs`, see `seeds.train_seeds`).
  """
  seeds_lib.check_seeds(num_seeds)
  configs = check_cells(config, cells)
  os.makedirs(workdir, exist_ok=True)
  setup = {"seeds": num_seeds, "shared_order": shared_order}
  started = _read_json(os.path.join(workdir, "sweep.json"))
  if started is not None and {k: started[k] for k in setup} != setup:
    raise UserError(f"{workdir} holds a sweep started with --seeds={started['seeds']} "
                    f"(shared order {started['shared_order']}); rerun with those or use a new "
                    "--workdir")
  _write_json(os.path.join(workdir, "sweep.json"), dict(setup, cells=_normal(cells)))

  rows, trained_seconds, t_start = [], [], time.perf_counter()
  with preemption.StopSignals() as stop:
    for k, (overrides, cell_config) in enumerate(zip(cells, configs), 1):
      stop.check_before(f"cell {k}/{len(cells)}; the finished cells are kept in {workdir}, and "
                        "the same command resumes the sweep")
      rows.append(_run_cell(k, len(cells), overrides, cell_config, workdir, num_seeds,
                            shared_order, checkpoint_secs, trained_seconds, t_start,
                            seed_devices))
  results_lib.write(rows, workdir)
  return rows


def _run_cell(k, n_cells, overrides, cell_config, workdir, num_seeds, shared_order,
              checkpoint_secs, trained_seconds, t_start, seed_devices=1) -> dict:
  """Cell k of n_cells: its earlier result, or its row once trained (resumed if started)."""
  name, directory = sweeps.cell_name(overrides), os.path.join(workdir, sweeps.cell_dir(overrides))
  _check_same_config(cell_config, directory, name)
  done = _read_json(os.path.join(directory, "result.json"))
  if done is not None and done["overrides"] == _normal(overrides):
    print(f"[cell {k}/{n_cells}] {name}: finished earlier "
          f"({100 * done['test_accuracy_mean']:.2f}% test accuracy); skipped", flush=True)
    return done
  left = n_cells - k + 1
  eta = (f"about {_duration(np.mean(trained_seconds) * left)} left" if trained_seconds
         else "time left known after this cell")
  print(f"[cell {k}/{n_cells}] {name}: {num_seeds} seeds; "
        f"{_duration(time.perf_counter() - t_start)} elapsed, {eta}", flush=True)
  t0 = time.perf_counter()
  row = summarize(overrides, seeds_lib.train_seeds(cell_config, directory, num_seeds,
                                                   shared_order, checkpoint_secs, seed_devices))
  _write_json(os.path.join(directory, "result.json"), row)
  trained_seconds.append(time.perf_counter() - t0)
  return row

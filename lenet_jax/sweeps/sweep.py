"""Runs every cell of a sweep (`python -m lenet_jax.sweep`), resumably, then writes its
tables and plots.

  <workdir>/sweep.json             the cells and seeds this sweep was started with
  <workdir>/lock.shared-*.json     held by each worker while it runs (`lenet_jax.common.lock`):
                                   nothing but the sweep's workers writes under <workdir>
  <workdir>/<cell>/                one run of the training loop per cell, its seeds together
  <workdir>/<cell>/lock.json       held by the worker training the cell (`lenet_jax.common.lock`)
  <workdir>/<cell>/result.json     written when the cell is finished: re-running skips it
  <workdir>/results.{csv,md}, test_error.png, curves.png

Several workers may share one workdir, each given a shard I/N of the cells (cell k,
counted from 0, belongs to shard k mod N): a worker trains the cells of its shard
that no live worker holds, resuming any a dead worker left, and the worker that finds
every cell finished writes the results (`collect` does it at any time).
"""

import json
import os
import time

import numpy as np

from lenet_jax.common import files, preemption
from lenet_jax.common.errors import UserError
from lenet_jax.runs import validation
from lenet_jax.common import lock
from lenet_jax.runs import run_record
from lenet_jax.sweeps import cells as cells_lib
from lenet_jax.sweeps import results as results_lib
from lenet_jax.training import seeds as seeds_lib
from lenet_jax.training import train

SWEEP = run_record.SWEEP


def _normal(value):
  return json.loads(json.dumps(value))  # tuples -> lists, as stored


def _duration(seconds: float) -> str:
  seconds = int(round(seconds))
  h, rest = divmod(seconds, 3600)
  m, s = divmod(rest, 60)
  return f"{h}h{m:02d}m" if h else f"{m}m{s:02d}s"


def check_cells(config, cells) -> list:
  """Every cell's config, validated before anything trains (one line on the first bad one)."""
  configs = []
  for overrides in cells:
    cell_config = cells_lib.apply(config, overrides)
    try:
      validation.validate(cell_config)
    except UserError as e:
      raise UserError(f"sweep cell {cells_lib.cell_name(overrides)}: {e}") from None
    configs.append(cell_config)
  return configs


_CELL_RESUMABLE = ("checkpoint_secs", "progress_secs")  # a sweep's resume may change only these


def _check_same_config(cell_config, directory: str, name: str) -> None:
  """A cell started earlier must have been started with the same config, or its
  results would silently mix two configs."""
  try:
    run_record.check_resume(directory, cell_config, resumable=_CELL_RESUMABLE)
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
      "cell": cells_lib.cell_name(overrides), "overrides": _normal(overrides),
      "seeds": out["seeds"], "test_accuracy": final.tolist(),
      "test_accuracy_mean": float(final.mean()), "test_accuracy_std": std,
      "best_epoch": int(histories[0][int(np.argmax(curve))]["epoch"]),
      "best_test_accuracy_mean": float(curve.max()), "epochs": len(histories[0]),
      "wall_s": float(sum(r["seconds"] for r in histories[0])), "params": out["params"],
      "diverged_seeds": sum(any("nonfinite_step" in r for r in h) for h in histories),
      "data_source": out["data_source"],
  }


def parse_shard(value: str | None) -> tuple[int, int]:
  """(I, N) of '--shard=I/N'; unset: SLURM_ARRAY_TASK_ID / SLURM_ARRAY_TASK_COUNT, else 0/1."""
  if not value:
    task, count = os.environ.get("SLURM_ARRAY_TASK_ID"), os.environ.get("SLURM_ARRAY_TASK_COUNT")
    if task is None or count is None:
      return 0, 1
    value = f"{task}/{count}"
    where = "SLURM_ARRAY_TASK_ID/SLURM_ARRAY_TASK_COUNT"
  else:
    where = "--shard"
  try:
    index, count = (int(v) for v in value.split("/"))
  except ValueError:
    raise UserError(f"{where}={value!r}: expected I/N, e.g. 0/4") from None
  if not 0 <= index < count:
    raise UserError(f"{where}={value}: I must be in 0..N-1 (arrays numbered from 1: use "
                    "--shard=$((SLURM_ARRAY_TASK_ID-1))/$SLURM_ARRAY_TASK_COUNT)")
  return index, count


def overridden(cells, changed_keys) -> list[str]:
  """Notes on the keys the command line changed that some cell sets again (the cell's
  value is what trains)."""
  notes = []
  for key in changed_keys:
    values = sorted({str(c[key]) for c in cells if key in c})
    if values:
      notes.append(f"note: the sweep's cells set {key} ({', '.join(values)}), which is "
                   f"what they train with, over --config.{key}")
  return notes


def run_sweep(config, cells, workdir: str, num_seeds: int, shared_order: bool = False,
              checkpoint_secs: float = 0.0, seed_devices: int = 1, shard=(0, 1),
              claim_timeout_s: float = lock.TIMEOUT_S) -> list | None:
  """Trains the cells of `cells` (override dicts) in `shard` (I, N) with `num_seeds`
  seeds each; returns every cell's row once all are finished (and writes the
  results), else None.

  Finished cells (those with a result.json for the same overrides and seeds) are
  skipped, cells held by a live worker are left to it, and an interrupted one
  continues from its last checkpoint (written every `checkpoint_secs`: it sets
  `config.checkpoint_secs` for every cell).
  """
  seeds_lib.check_seeds(num_seeds)
  config = cells_lib.apply(config, {"checkpoint_secs": float(checkpoint_secs)},
                           where="--checkpoint_secs")
  configs = check_cells(config, cells)
  index, count = shard
  label = f"{index}/{count}"
  with lock.hold(workdir, f"lenet_jax.sweep shard {label}", claim_timeout_s, shared=True), \
      preemption.StopSignals() as stop:
    _check_sweep_dir(workdir, cells, configs, num_seeds, shared_order, config)
    trained_seconds, t_start = [], time.perf_counter()
    for k, (overrides, cell_config) in enumerate(zip(cells, configs), 1):
      if (k - 1) % count != index:
        continue
      stop.check_before(f"cell {k}/{len(cells)}; the finished cells are kept in {workdir}, and "
                        "the same command resumes the sweep")
      name = cells_lib.cell_name(overrides)
      directory = os.path.join(workdir, cells_lib.cell_dir(overrides))
      done = _finished(directory, overrides)
      if done is not None:
        print(f"[cell {k}/{len(cells)}] {name}: finished earlier "
              f"({100 * done['test_accuracy_mean']:.2f}% test accuracy); skipped", flush=True)
        continue
      claim, other = lock.acquire(directory, f"lenet_jax.sweep shard {label}", claim_timeout_s,
                                  within=workdir)
      if claim is None:
        print(f"[cell {k}/{len(cells)}] {name}: being trained by {_who(other)}; left to it",
              flush=True)
        continue
      if other is not None:
        print(f"[cell {k}/{len(cells)}] {name}: taking over from {_who(other)}, which stopped "
              "without finishing it", flush=True)
      left = len(range(k - 1, len(cells), count))  # this shard's cells from this one on
      eta = (f"about {_duration(np.mean(trained_seconds) * left)} left" if trained_seconds
             else "time left known after this cell")
      print(f"[cell {k}/{len(cells)}] {name}: {num_seeds} seed{'s' if num_seeds > 1 else ''}; "
            f"{_duration(time.perf_counter() - t_start)} elapsed, {eta}", flush=True)
      try:
        t0 = time.perf_counter()
        try:
          out = train.train_and_evaluate(cell_config, directory, seeds=num_seeds,
                                         shared_order=shared_order, seed_devices=seed_devices)
        except train.DivergenceError as e:
          print(f"[cell {k}/{len(cells)}] {name}: every seed diverged ({e}); the cell is "
                "recorded as diverged at that epoch", flush=True)
          out = e.result
        row = summarize(overrides, out)
        files.write_json(os.path.join(directory, "result.json"), row, indent=2)
        trained_seconds.append(time.perf_counter() - t0)
      finally:
        claim.release()
    rows, missing = collect(cells, workdir, claim_timeout_s)
    if missing:
      print(f"{len(cells) - len(missing)} of {len(cells)} cells finished; left to other "
            "workers: " + "; ".join(missing) + ". The last to finish writes the results, or run "
            "with --collect", flush=True)
      return None
    _write_results(rows, workdir)
    return rows


def _check_sweep_dir(workdir: str, cells, configs, num_seeds: int, shared_order: bool,
                     config) -> None:
  """Refuses a --workdir that is not this sweep's, before anything is written there: a run of
  lenet_jax.main, a sweep started with other seeds or another base config (the config
  before the cells' overrides: a cell not started yet would train with it), another grid
  while a sweep of it runs, a cell started with another config. Then records the sweep's
  cells, seeds and base config in sweep.json (of two sweeps starting at once in a new
  directory, the second is checked against the first's)."""
  if os.path.isfile(os.path.join(workdir, run_record.CONFIG)):
    raise UserError(f"{workdir} holds a run of lenet_jax.main ({run_record.CONFIG}), not a "
                    "sweep; use a new --workdir for the sweep")
  setup = {"seeds": num_seeds, "shared_order": shared_order}
  record = dict(setup, cells=_normal(cells),
                config=json.loads(json.dumps(config.to_dict(), default=str)))
  started = _read_sweep(workdir)
  if started is None:
    try:
      files.write_json(os.path.join(workdir, SWEEP), record, exclusive=True, indent=2)
    except FileExistsError:
      started = _read_sweep(workdir)
    except OSError as e:
      raise UserError(f"cannot write to --workdir={workdir} ({e.strerror}); choose a writable "
                      "directory") from None
  try:
    _check_against(workdir, cells, configs, config, setup, record, started)
  except UserError:
    if started is None:  # a refused sweep leaves no sweep.json of its own
      os.remove(os.path.join(workdir, SWEEP))
    raise


def _check_against(workdir: str, cells, configs, config, setup: dict, record: dict,
                   started: dict | None) -> None:
  if started is not None and {k: started.get(k) for k in setup} != setup:
    raise UserError(f"{workdir} holds a sweep started with --seeds={started.get('seeds')} "
                    f"(shared order {started.get('shared_order')}); rerun with those or use a "
                    "new --workdir")
  if started is not None and started.get("cells") != _normal(cells):
    sweeping = [h for h in lock.others(workdir) if h.get("what", "").startswith("lenet_jax.sweep")]
    if sweeping:  # two grids in one root would interleave and overwrite each other's results
      raise UserError(f"{workdir} is being swept with other cells (its {SWEEP}) by "
                      f"{lock.describe(sweeping[0])}; a worker joins with the same --sweep "
                      "and overrides, or use a new --workdir")
  if started is not None and "config" in started:  # (sweeps before it was recorded lack it)
    changed = {k: v for k, v in run_record.diff(run_record.from_dict(started["config"]),
                                                config).items()
               if k not in _CELL_RESUMABLE}
    if changed:
      what = "; ".join(f"config.{k} was {a!r}, now {b!r}" for k, (a, b) in changed.items())
      raise UserError(f"{workdir} holds a sweep started with another base config ({what}); "
                      "rerun with the sweep's values or use a new --workdir")
  for overrides, cell_config in zip(cells, configs):
    _check_same_config(cell_config, os.path.join(workdir, cells_lib.cell_dir(overrides)),
                       cells_lib.cell_name(overrides))
  if started is None:
    return  # sweep.json written above
  try:
    files.write_json(os.path.join(workdir, SWEEP), record, indent=2)
  except OSError as e:
    raise UserError(f"cannot write to --workdir={workdir} ({e.strerror}); choose a writable "
                    "directory") from None


def _read_sweep(workdir: str) -> dict | None:
  try:
    return files.read_json(os.path.join(workdir, SWEEP))
  except (OSError, ValueError) as e:
    raise UserError(f"{os.path.join(workdir, SWEEP)} cannot be read ({e}); it is not a sweep "
                    "lenet_jax wrote: use a new --workdir") from None


def _write_results(rows, workdir: str) -> None:
  try:
    results_lib.write(rows, workdir)
  except OSError as e:
    raise UserError(f"cannot write the sweep's results into {workdir} ({e.strerror}); the cells "
                    "are kept: make it writable and run the same command with --collect") from None


def _who(holder) -> str:
  return lock.describe(holder) if holder else "another worker"


def _finished(directory: str, overrides: dict):
  done = files.read_json(os.path.join(directory, "result.json"))
  return done if done is not None and done["overrides"] == _normal(overrides) else None


def collect(cells, workdir: str, claim_timeout_s: float = lock.TIMEOUT_S) -> tuple[list, list]:
  """(rows of the finished cells, descriptions of the unfinished ones)."""
  rows, missing = [], []
  for overrides in cells:
    directory = os.path.join(workdir, cells_lib.cell_dir(overrides))
    done = _finished(directory, overrides)
    if done is not None:
      rows.append(done)
      continue
    claim = lock.read(directory)
    if claim is not None and lock.is_stale(claim, claim_timeout_s):
      state = f"stopped: its worker, {_who(claim)}, is gone"
    elif claim is not None:
      state = f"being trained by {_who(claim)}"
    else:
      state = "started, stopped" if os.path.isdir(directory) else "not started"
    missing.append(f"{cells_lib.cell_name(overrides)} ({state})")
  return rows, missing


def write_collected(cells, workdir: str,
                    claim_timeout_s: float = lock.TIMEOUT_S) -> tuple[list, list]:
  """Writes the results of every finished cell (`--collect`); returns (rows, unfinished)."""
  if not os.path.isfile(os.path.join(workdir, SWEEP)):
    raise UserError(f"--workdir={workdir} holds no sweep ({SWEEP}); name the directory a sweep "
                    "trained in")
  with lock.hold(workdir, "lenet_jax.sweep --collect", claim_timeout_s, shared=True):
    rows, missing = collect(cells, workdir, claim_timeout_s)
    if not rows:
      raise UserError(f"{workdir} holds no finished cell of this sweep yet")
    _write_results(rows, workdir)
    if missing:
      try:
        with open(os.path.join(workdir, "results.md"), "a") as f:
          f.write(f"\n\nUnfinished ({len(missing)} of {len(cells)} cells): "
                  f"{'; '.join(missing)}.\n")
      except OSError as e:
        raise UserError(f"cannot write {workdir}/results.md ({e.strerror})") from None
  return rows, missing

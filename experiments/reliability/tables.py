"""The tables of experiments/reliability/README.md:

  python experiments/reliability/tables.py faults       # what was done to runs
  python experiments/reliability/tables.py user_cases   # what a new user hit, before and after

The SIGKILL row's counts come from kill_resume_20.log (kill_resume.py's output: one JSON
line per point). Every other row is what a test of the suite exercises: each row names
its test, and the table is made only if every named test is defined in tests/ (a renamed
or removed test ends the command with one error line naming it).
"""

import json
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
REL = "tests/training/test_reliability.py"
FAULTS = [  # (fault, what happened, lost, test)
    ("SIGTERM in the middle of an epoch",
     "the step in flight finished, a checkpoint was saved there with the epoch's partial "
     "metrics, one line said where, exit code 143; the same command resumed mid-epoch and "
     "ended bitwise equal to an uninterrupted run", "nothing",
     f"{REL}::test_sigterm_saves_at_a_step_boundary_and_resumes_exactly"),
    ("the learning rate jumps to 1e12 after epoch 1 (NaN/Inf)",
     "stopped at the end of epoch 2 with one line naming the first non-finite step and the "
     "last good checkpoint (step 10: 1,000 images at batch 100), exit 1; that checkpoint "
     "restores, with finite parameters", "the diverged epoch only",
     f"{REL}::test_divergence_stops_with_one_line_and_keeps_the_last_good_checkpoint"),
    ("the disk fills while the epoch-2 checkpoint is written (simulated: orbax's save "
     "raises ENOSPC)", "one line: the step-160 checkpoint could not be written, the step-80 "
     "one is intact; it restores", "the unsaved epoch",
     f"{REL}::test_checkpoint_write_failure_is_one_line_and_keeps_the_previous"),
    ("workdir that cannot be created (a path below a file)",
     "one line naming the workdir, before any training", "nothing",
     f"{REL}::test_unwritable_workdir_is_one_line"),
    ("truncated IDX file, corrupt gzip, bad magic number, images and labels of different "
     "counts, wrong image size, labels out of range, an empty split",
     "one `error:` line naming the file and the fix, before training", "nothing",
     "tests/data/test_idx.py"),
    ("unreadable TFDS records (simulated: every record read fails)",
     "one line naming the dataset and split, and the fix", "nothing",
     f"{REL}::test_corrupt_tfds_records_are_one_line"),
    ("every config key with an invalid value (the keys of the test's CASES, plus SDLM, "
     "AlexNet and mesh keys)", "one line: `config.KEY=VALUE is invalid: ...` with the valid "
     "choices; on the CLI, exit 1 and no traceback", "nothing",
     "tests/runs/test_validation.py::test_invalid_value"),
    ("the same config and seed twice", "bitwise-equal metrics and parameters on CPU", "",
     f"{REL}::test_same_config_and_seed_give_bitwise_equal_metrics"),
]
SO = "tests/training/test_stop_signals.py"
USER_CASES = [  # (case, before, after, test or "")
    ("`lenet_jax.main --config=configs/lenet5.py`, SIGTERM or SIGINT once training runs (one "
     "scanned chunk is the whole epoch)", "ignored: ran to epoch 50, exit 0 (report)",
     "stops at the end of the epoch: checkpoint saved, one line, exit 143 / 130",
     f"{SO}::test_readme_training_run_stops_when_one_chunk_is_the_whole_epoch"),
    ("SIGTERM during start-up", "exit 143, nothing printed (report)",
     "`stopped by SIGTERM during start-up; nothing was trained`, exit 143, no workdir left",
     f"{SO} (its start-up stop test)"),
    ("`lenet_jax.sweep` (`make sweep`), SIGINT / SIGTERM", "ignored (report)",
     "stops at the epoch boundary of the cell in training, exit 130 / 143; between cells: "
     "says the finished cells are kept",
     f"{SO}::test_sweep_stops_at_the_epoch_boundary_and_resumes"),
    ("`lenet_jax.benchmark`, a stop", "not handled",
     "stops after the chunk in flight, \"nothing was measured\", 128 + signal",
     f"{SO}::test_benchmark_stops_before_timing"),
    ("resume with `--config.model.c3=table` on a `full` run",
     "orbax traceback; config.json rewritten to `table`",
     "1 line naming the key and both values; config.json unchanged",
     "tests/runs/test_run_record.py"),
    ("a resume that trains nothing with a new learning rate", "config.json rewritten (report)",
     "nothing written",
     "tests/runs/test_run_record.py::test_a_change_that_trains_nothing_is_not_recorded"),
    ("`evaluate`, the newest checkpoint's `_METADATA` deleted", "traceback",
     "a warning naming the skipped checkpoint, then the score of the older one, naming its "
     "step (also a data file deleted or garbled, the per-process manifest truncated)",
     "tests/runs/test_checkpoint.py"),
    ("resume, the same damage", "traceback",
     "one warning line; resumes from the older checkpoint, sets the damaged one aside in "
     "`checkpoints_unreadable/`",
     "tests/runs/test_checkpoint.py::test_a_damaged_newest_checkpoint_falls_back_to_the_older"),
    ("no checkpoint restores", "traceback", "one `error:` line listing each step and why",
     "tests/runs/test_checkpoint.py::test_no_checkpoint_restoring_is_one_user_error"),
    ("disk full while a checkpoint is written (files over 200 kB refused with `ulimit -f`)",
     "many lines of \"Event loop is closed\" tracebacks, then a long `error:` line",
     "the normal epoch lines, then one `error:` line of under 300 characters "
     "(`(File too large)`)",
     "tests/runs/test_checkpoint.py::test_a_write_that_fails_ends_in_one_short_line"),
    ("`--config.num_epoch=3` (main, evaluate), `--config.foo=1` (sweep)", "traceback",
     "1 line; the closest key suggested (`did you mean --config.num_epochs?`) or "
     "`--print_config` named",
     "tests/common/test_cli.py::test_unknown_config_key_suggests_the_closest"),
    ("a config file with a syntax error", "traceback", "1 line naming the file and line",
     "tests/common/test_cli.py::test_a_config_file_with_a_syntax_error_names_the_file_and_line"),
    ("`evaluate` on data of another image shape",
     "traceback (also in the report, with `data.name=cifar10`)",
     "1 line: the key, what the run was trained with and the value given",
     "tests/common/test_cli.py::test_evaluate_on_another_dataset_names_the_key_and_what_the_run_was_trained_with"),
    ("`--config.num_epochs=abc`, `--config.distortions.enabled=2`",
     "absl's `FATAL Flags parsing error`", "1 `error:` line",
     "tests/common/test_cli.py::test_a_value_of_the_wrong_type_is_one_line"),
    ("`--help` on evaluate / plots",
     "`error: --workdir is required` / `error: --help not found`, exit 1",
     "the help, exit 0 (every command)",
     "tests/common/test_cli.py::test_help_works_on_every_command"),
    ("`plots --out=` a missing folder", "traceback", "the folder is made",
     "tests/runs/test_plots.py"),
    ("`plots` on two sweeps' `seed_0`", "one curve, silently (report)",
     "each labelled by its path's tail",
     "tests/runs/test_plots.py::test_runs_whose_folders_share_a_name_get_their_own_labels"),
    ("train error of 0% on the curves", "off the log axis (report)",
     "symlog axis, linear below 0.1%",
     "tests/runs/test_plots.py::test_a_train_error_of_zero_stays_on_the_axis"),
    ("`configs/lenet5.py:data=cifar10` with no copy", "told to bring IDX files",
     "told to prepare it with TFDS and pass `data.tfds_data_dir`",
     "tests/common/test_cli.py::test_a_dataset_that_is_not_idx_is_not_told_to_bring_idx_files"),
    ("the full-MNIST fallback warning", "printed by every run and sweep cell",
     "under 200 characters, once per process",
     "tests/common/test_cli.py::test_train_then_evaluate_on_official_test_split"),
    ("a finished run started again", "\"Resuming ... (epoch 51\" (report)",
     "only \"already holds all 50 epochs\"",
     "tests/runs/test_run_record.py::test_resume_message_never_names_an_epoch_past_the_last"),
    ("a stop in the first epoch with `log_step_losses`", "steps.jsonl lost (report)",
     "kept; the resumed run appends the rest, each step once",
     f"{SO}::test_step_losses_of_a_first_epoch_stopped_mid_way_are_kept"),
    ("a run refused after loading its data (`batch_size` larger than the set)",
     "workdir left holding config.json (report)", "no workdir made",
     "tests/runs/test_run_record.py::"
     "test_a_run_refused_after_loading_its_data_leaves_no_workdir"),
    ("`make train`, `make test`, ...", "pip install every time",
     "installs once (a stamp, remade when the lock or pyproject changes)", ""),
    ("the `smoke` sweep", "50 epochs a cell", "3 epochs a cell", "tests/sweeps/test_sweep.py"),
    ("the README's fake-device AlexNet command", "1,440 steps at 227x227",
     "`:data=synthetic,runlocal`: 8 steps; the full one's cost stated", ""),
    ("\"seed k of a sweep equals `lenet_jax.main` with seed k\"",
     "stated as equal; the report measured a difference at epoch 1",
     "stated as equal up to float reduction order, with the measured drift "
     "(`seed_equivalence.py`, below)",
     "tests/sweeps/test_sweep.py::test_vmapped_seeds_equal_separate_single_seed_runs "
     "(2 epochs, rtol 2e-5)"),
]


def named(test: str) -> str:
  """`test` as the table shows it, after checking that it is defined."""
  if not test:
    return ""
  where = test.split(" (")[0]
  path, _, name = where.partition("::")
  if not os.path.exists(os.path.join(ROOT, path)):
    raise SystemExit(f"error: {path}, named by the reliability tables, does not exist")
  if name:
    with open(os.path.join(ROOT, path)) as f:
      if not re.search(rf"^def {re.escape(name)}\(", f.read(), re.M):
        raise SystemExit(f"error: {path} defines no {name}, which "
                         "experiments/reliability/tables.py names; say there which test "
                         "covers the row now")
  return f"`{where}`" + test[len(where):]


def faults():
  with open(os.path.join(HERE, "kill_resume_20.log")) as f:
    lines = f.read().splitlines()
  points = [json.loads(line) for line in lines if line.startswith("{")]
  reference = re.match(r"reference run: ([0-9.]+) s", lines[0]).group(1)
  equal = sum(p["params_bitwise_equal"] and p["metrics_equal"] for p in points)
  kills = sum(p["kills"] for p in points)
  delays = [d for p in points for d in p["kill_after_s"]]
  print("| fault | how often | what happened | lost | test |\n|---|---|---|---|---|")
  print(f"| SIGKILL after 1 or 2 random delays ({min(delays):.1f}-{max(delays):.1f} s after a "
        f"start, against {reference} s for the uninterrupted run; the log records the delays, "
        "not what the run was doing then), then the same command again, until done | "
        f"{len(points)} runs, {kills} kills (`kill_resume_20.log`) "
        "| each restart resumed from the last complete checkpoint; "
        f"{equal} of {len(points)} finished with parameters **bitwise equal** to an "
        "uninterrupted run and identical per-epoch metrics | nothing | "
        f"{named(REL + '::test_sigkill_at_random_moments_loses_nothing')} (two kills, in a "
        "shorter run: BatchNorm, 1,000 synthetic images) |")
  for fault, happened, lost, test in FAULTS:
    print(f"| {fault} | every suite run | {happened} | {lost} | {named(test)} |")


def user_cases():
  print("| case | before | after | test |\n|---|---|---|---|")
  for case, before, after, test in USER_CASES:
    print(f"| {case} | {before} | {after} | {named(test)} |")


if __name__ == "__main__":
  tables = {"faults": faults, "user_cases": user_cases}
  if len(sys.argv) != 2 or sys.argv[1] not in tables:
    raise SystemExit(f"error: say which table: {', '.join(tables)}")
  tables[sys.argv[1]]()

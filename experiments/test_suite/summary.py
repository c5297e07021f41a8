"""Where the suite's time goes, from the stored runs.

  python experiments/test_suite/summary.py           # where the time goes
  python experiments/test_suite/summary.py --table   # README.md's table of runs
  python experiments/test_suite/summary.py --first_round   # the first round's two runs
  python experiments/test_suite/summary.py --ci      # the clean-clone run of .ci/run
  python experiments/test_suite/summary.py --join DIR OUT.jsonl   # a steps_*.jsonl from
      # compile_log_plugin.py's per-worker files in DIR
  python experiments/test_suite/summary.py --cpu [DIR]   # CPU seconds per test file, from
      # cpu_plugin.py's files (default: cpu_3a42cfc, the run at 3a42cfc)

- after_per_test.jsonl (fd93f1f; compile_plugin.py): one line per test, its in-process
  XLA compile seconds (backend compile events) and its whole time.
- steps_*.jsonl (compile_log_plugin.py): the same per test for the three instrumented
  runs of README.md's table of steps; compile seconds here are every compilation JAX
  logged, loads from the persistent cache included.
- before_*.log, after_*.log, run_*.log: plain runs with --durations=0 (the code's commit
  and the time of day in the name): the seconds of each test's setup, call and
  teardown, summed per test file.
"""

import collections
import glob
import json
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
_DURATION = re.compile(r"([0-9.]+)s (call|setup|teardown)\s+(\S+)")
CI_LOG = "ci_d823be3.log"  # the last `.ci/run` from a clean clone (2-core AMD EPYC)
_LAST = re.compile(r"(\d+) passed.* in ([0-9.]+)s")
# (log, per-test file or None, what the run was); the steps are instrumented runs
RUNS = [
    ("steps_1_64fe7c5.log", "steps_1_64fe7c5.jsonl",
     "step 1: 64fe7c5, instrumented (default xdist distribution)"),
    ("steps_2_inputs_loadfile.log", "steps_2_inputs_loadfile.jsonl",
     "step 2: + tests' random inputs drawn flat (0826c3b), `--dist loadfile`"),
    ("steps_3_cheap_xla.log", "steps_3_cheap_xla.jsonl",
     "step 3: + one sharded-seeds test (399f9fb), JAX_DISABLE_MOST_OPTIMIZATIONS=1 for all"),
    ("run_8454fa4_1651.log", None, "plain, 16:51: 8454fa4 (before the last four test commits)"),
    ("before_64fe7c5_1658.log", None, "plain, 16:58: 64fe7c5 (before)"),
    ("after_12c7969_1719.log", None, "plain, 17:19: 12c7969 (after)"),
    ("before_64fe7c5_1728.log", None, "plain, 17:28: 64fe7c5 (before)"),
    ("after_12c7969_1739.log", None, "plain, 17:39: 12c7969 (after)"),
    ("before_3a42cfc_2002.log", None, "third round, plain, 20:02: 3a42cfc (before)"),
    ("after_b3d7b8d_2008.log", None, "third round, plain, 20:08: b3d7b8d (after)"),
    ("before_3a42cfc_2013.log", None, "third round, plain, 20:13: 3a42cfc (before)"),
    ("after_b3d7b8d_2019.log", None, "third round, plain, 20:19: b3d7b8d (after)"),
    ("fourth_HEAD_1.log", None, "fourth round, 05:48: dd7b0a7 (1 failure: a README row over "
     "400 characters)"),
    ("fourth_base_1.log", None, "fourth round, 05:58: af32955 (before)"),
    ("fourth_HEAD_freeze.log", None, "fourth round, 06:06: 5f0f1c8 (the zygote's gc.freeze)"),
    ("fourth_HEAD_final.log", None, "fourth round, 06:17: 61c68dc (after)"),
    ("fourth_base_2.log", None, "fourth round, 06:24: af32955 (before)"),
    ("fourth_HEAD_nozygote.log", None, "fourth round, 06:29: 61c68dc, "
     "LENET_JAX_TEST_NO_ZYGOTE=1 (every command a new interpreter)"),
    ("fourth_HEAD_nocheap.log", None, "fourth round, 06:38: 61c68dc, "
     "LENET_JAX_TEST_NO_CHEAP_EMITTERS=1 (jax_disable_most_optimizations alone)"),
    ("fifth_HEAD_1.log", None, "fifth round, the VM before (its clock 07:11): 889215a"),
    ("fifth_HEAD_2.log", None, "fifth round, 12:18: 889215a (before this round's cuts)"),
    ("fifth_HEAD_fullxla.log", None, "fifth round, 12:34: 889215a, XLA's defaults for every "
     "test (JAX_DISABLE_MOST_OPTIMIZATIONS=0, LENET_JAX_TEST_NO_CHEAP_EMITTERS=1)"),
    ("fifth_wip_1.log", None, "fifth round, 13:04: 872e067 (1 failure: test_lock's race, "
     "fixed in a4a991d)"),
    ("fifth_wip_2.log", None, "fifth round, 13:11: ca995a7"),
    ("fifth_wip_3.log", None, "fifth round, 13:21: 8e52fdb"),
    ("fifth_after_1.log", None, "fifth round, 13:30: ca16077"),
    ("fifth_before_1.log", None, "fifth round, 13:35: af32955 (before the open core)"),
    ("fifth_after_2.log", None, "fifth round, 13:44: 23b4d22 (after)"),
    ("fifth_before_2.log", None, "fifth round, 13:50: af32955 (before the open core)"),
    ("fifth_after_3.log", None, "fifth round, 13:56: 23b4d22 (after)"),
    ("fifth_before_3.log", None, "fifth round, 14:02: af32955 (before the open core)"),
    ("sixth_start_1428.log", None, "sixth round, 14:28: c69ceca (before this round's changes)"),
    ("sixth_wip_1457.log", None, "sixth round, 14:57: 1e7edc5"),
    ("sixth_instrumented_1505.log", None, "sixth round, 15:05: e4d7d8e, each forked "
     "command's CPU logged (a copy, not committed)"),
    ("sixth_wip_1522.log", None, "sixth round, 15:22: e4d7d8e + restored arrays uncommitted "
     "(685ca2d)"),
    ("sixth_after_1533.log", None, "sixth round, 15:33: 116e6be (after)"),
    ("sixth_before_1537.log", None, "sixth round, 15:37: af32955 (before the open core)"),
    ("sixth_after_1542.log", None, "sixth round, 15:42: 116e6be (after)"),
    ("sixth_before_1547.log", None, "sixth round, 15:47: af32955 (before the open core)"),
    ("sixth_after_1551.log", None, "sixth round, 15:51: 116e6be (after)"),
    ("sixth_before_1556.log", None, "sixth round, 15:56: af32955 (before the open core)"),
]


def per_test(name):
  with open(os.path.join(HERE, name)) as f:
    rows = [json.loads(line) for line in f]
  total = sum(r["total_s"] for r in rows)
  compile_s = sum(r["compile_s"] for r in rows)
  print(f"{name}: {len(rows)} tests, {total:.0f} s in the two workers, of which "
        f"{compile_s:.0f} s in-process XLA compilation ({compile_s / total:.0%})")
  return rows


def durations(name):
  """{test file: seconds} from a --durations=0 log."""
  files = collections.Counter()
  with open(os.path.join(HERE, name)) as f:
    for line in f:
      if m := _DURATION.match(line):
        files[m.group(3).split("::")[0]] += float(m.group(1))
  return files


def _minutes(seconds):
  return f"{int(seconds // 60)} min {int(seconds % 60):02d} s"  # as pytest prints it


def table():
  """Each stored run: its tests, its time, the seconds its tests took in both workers
  and, where instrumented, their in-process compilation."""
  print("| run | tests | time | test seconds | of which compiling |")
  print("|---|---|---|---|---|")
  for log, jsonl, what in RUNS:
    with open(os.path.join(HERE, log)) as f:
      text = f.read()
    # pytest's last line (time_suite.sh's logs add the start and bash's `time` after it)
    tests, wall = [_LAST.search(line) for line in text.strip().splitlines()
                   if _LAST.search(line)][-1].groups()
    if jsonl:
      with open(os.path.join(HERE, jsonl)) as f:
        rows = [json.loads(line) for line in f]
      seconds = sum(r["total_s"] for r in rows)
      compiling = f"{sum(r['compile_s'] for r in rows):.0f}"
    else:
      seconds, compiling = sum(durations(log).values()), "not logged"
    print(f"| {what} | {tests} | {_minutes(float(wall))} | {seconds:.0f} | {compiling} |")


FIRST_ROUND = [  # (code, log)
    ("before the restructuring (9072408, a worktree)", "before_9072408.log"),
    ("fd93f1f (initial values drawn flat: `lenet_jax/models/sampling.py`)", "after.log"),
]


def last_line(log):
  """(tests passed, seconds) of a pytest log's last line."""
  with open(os.path.join(HERE, log)) as f:
    lines = [line for line in f.read().splitlines() if _LAST.search(line)]
  tests, wall = _LAST.search(lines[-1]).groups()
  return int(tests), float(wall)


def first_round():
  print("| code | tests | time | log |\n|---|---|---|---|")
  for what, log in FIRST_ROUND:
    tests, wall = last_line(log)
    print(f"| {what} | {tests} passed | {_minutes(wall)} | `{log}` |")


def ci():
  """The `.ci/run` line of the README's Results table."""
  tests, wall = last_line(CI_LOG)
  print(f"{tests} passed in {_minutes(wall)}")


def join(directory, out):
  """One line per test from compile_log_plugin's lines (compiles_gw0/gw1.jsonl): its
  worker, its seconds, the seconds and number of the compilations logged during it."""
  compile_s, compiles, rows = collections.Counter(), collections.Counter(), []
  for worker in ("gw0", "gw1"):
    with open(os.path.join(directory, f"compiles_{worker}.jsonl")) as f:
      for line in f:
        r = json.loads(line)
        if "fn" in r:
          compile_s[r["test"]] += r["s"]
          compiles[r["test"]] += 1
        elif "total_s" in r:
          rows.append((r["test"], worker, r["total_s"]))
  with open(out, "w") as f:
    for test, worker, total in rows:
      f.write(json.dumps({"test": test, "worker": worker, "total_s": round(total, 3),
                          "compile_s": round(compile_s[test], 3),
                          "compiles": compiles[test]}) + "\n")


def cpu(directory):
  """CPU seconds per test file from cpu_plugin.py's lines in `directory`: the workers'
  own, their children's (commands started as new interpreters) and the zygote's
  children's (forked commands)."""
  tests, forked = {}, collections.Counter()
  for name in glob.glob(os.path.join(directory, "tests_gw*.jsonl")):
    with open(name) as f:
      for line in f:
        r = json.loads(line)
        if "test" in r:
          tests[r["test"]] = r
  with open(os.path.join(directory, "zygote.jsonl")) as f:
    for line in f:
      r = json.loads(line)
      forked[(r["test"] or "?").rsplit(" (", 1)[0]] += r["cpu"]  # 'test (call)'
  files = collections.defaultdict(collections.Counter)
  for test, r in tests.items():
    row = files[test.split("::")[0]]
    row.update(tests=1, wall=r["wall"], own=r["self"], new=r["children"], forked=forked[test])
  total = collections.Counter()
  for row in files.values():
    total.update(row)
  print(f"{len(tests)} tests: {total['wall']:.0f} s of wall time in the two workers; CPU "
        f"{total['own'] + total['new'] + total['forked']:.0f} s (the workers "
        f"{total['own']:.0f}, commands as new interpreters {total['new']:.0f}, forked "
        f"commands {total['forked']:.0f})")
  print(f"{'file':46s} {'tests':>5s} {'wall':>6s} {'CPU':>6s} {'own':>6s} {'new':>6s} "
        f"{'forked':>6s}")
  for path, row in sorted(files.items(), key=lambda x: -(x[1]["own"] + x[1]["new"]
                                                          + x[1]["forked"])):
    print(f"{path:46s} {row['tests']:5d} {row['wall']:6.1f} "
          f"{row['own'] + row['new'] + row['forked']:6.1f} {row['own']:6.1f} "
          f"{row['new']:6.1f} {row['forked']:6.1f}")


def main():
  if sys.argv[1:] == ["--table"]:
    return table()
  if sys.argv[1:] == ["--first_round"]:
    return first_round()
  if sys.argv[1:] == ["--ci"]:
    return ci()
  if sys.argv[1:2] == ["--join"]:
    return join(*sys.argv[2:4])
  if sys.argv[1:2] == ["--cpu"]:
    return cpu(sys.argv[2] if len(sys.argv) > 2 else os.path.join(HERE, "cpu_3a42cfc"))
  rows = per_test("after_per_test.jsonl")
  print("slowest ten:")
  for r in sorted(rows, key=lambda r: -r["total_s"])[:10]:
    print(f"  {r['total_s']:5.1f} s ({r['compile_s']:4.1f} s compiling)  {r['test']}")
  for name in sorted(glob.glob(os.path.join(HERE, "steps_*.jsonl"))):
    per_test(os.path.basename(name))
  before, after = durations("before_64fe7c5_1728.log"), durations("after_12c7969_1739.log")
  print(f"17:28 and 17:39 runs, test seconds (setup + call + teardown, both workers): "
        f"{sum(before.values()):.0f} before, {sum(after.values()):.0f} after; by file, the "
        "ten largest changes:")
  for path in sorted(set(before) | set(after),
                     key=lambda p: abs(after[p] - before[p]), reverse=True)[:10]:
    print(f"  {before[path]:6.1f} s -> {after[path]:6.1f} s  {path}")
  runs = ("before_3a42cfc_2002.log", "after_b3d7b8d_2008.log", "before_3a42cfc_2013.log",
          "after_b3d7b8d_2019.log")
  seconds = [durations(name) for name in runs]
  print("third round, test seconds per run (before 20:02, after 20:08, before 20:13, after "
        f"20:19): {', '.join(f'{sum(s.values()):.0f}' for s in seconds)}; by file, the four "
        "runs' seconds, for the twelve files whose two after runs differ most from their "
        "two before runs:")
  change = lambda p: seconds[1][p] + seconds[3][p] - seconds[0][p] - seconds[2][p]
  for path in sorted(set().union(*seconds), key=lambda p: abs(change(p)), reverse=True)[:12]:
    print("  " + ", ".join(f"{s[path]:5.1f}" for s in seconds) + f"  {path}")


if __name__ == "__main__":
  main()

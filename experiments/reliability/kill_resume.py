"""Kill training with SIGKILL at random moments, restart it, and check nothing is lost.

  python experiments/reliability/kill_resume.py --points 20

For each point: an uninterrupted reference run is trained once; then the same
command is started, killed with SIGKILL after a random delay (anywhere: start-up,
mid-step, mid-checkpoint-write), and started again until it finishes. The
final parameters must equal the reference's bit for bit, and so must every
epoch's metrics (timings aside).
"""

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FLAGS = ["--config=configs/lenet5.py", "--config.data.source=embedded", "--config.num_epochs=3",
         "--config.batch_size=100", "--config.schedule=cosine"]
TIMING_KEYS = ("images_per_sec", "seconds")


def command(workdir, extra=()):
  return [sys.executable, "-m", "lenet_jax.main", f"--workdir={workdir}", *FLAGS, *extra]


def env():
  return dict(os.environ, LENET_JAX_OFFLINE="1", JAX_PLATFORMS="cpu")


def new_process(args):
  """The command `args` as a new process, its stdout and stderr piped (text)."""
  return subprocess.Popen(args, cwd=ROOT, env=env(), stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True)


def train(workdir, start=new_process, extra=()):
  """An uninterrupted run (`start`: how a command is started, as `new_process`; `extra`:
  more flags)."""
  proc = start(command(workdir, extra))
  _, err = proc.communicate()
  if proc.returncode != 0:
    raise RuntimeError(f"the run failed: {err[-2000:]}")


def train_with_kills(workdir, delays, start=new_process, extra=()):
  """Runs to completion, killing the run after each delay in turn; returns the kills made."""
  kills = 0
  for delay in list(delays) + [None]:
    proc = start(command(workdir, extra))
    if delay is None:
      _, err = proc.communicate()
      if proc.returncode != 0:
        raise RuntimeError(f"final run failed: {err[-2000:]}")
      return kills
    try:
      proc.wait(timeout=delay)  # finished before the kill
      return kills
    except subprocess.TimeoutExpired:
      proc.send_signal(signal.SIGKILL)
      if proc.wait() != -signal.SIGKILL:  # it ended on its own just before the kill
        return kills
      kills += 1


def final_params(workdir):
  """(step, the final checkpoint's variables: parameters, and BatchNorm's statistics)."""
  sys.path.insert(0, ROOT)
  import jax
  from lenet_jax.runs import load, run_record
  config = run_record.load_config(workdir)
  step, state, task = load.load_state(config, workdir)
  return step, [jax.device_get(x) for x in jax.tree.leaves(task.variables(state))]


def metrics_without_timing(workdir):
  with open(os.path.join(workdir, "metrics.jsonl")) as f:
    return [{k: v for k, v in json.loads(line).items() if k not in TIMING_KEYS} for line in f]


def check(reference, workdir):
  import numpy as np
  ref_step, ref_params = final_params(reference)
  step, params = final_params(workdir)
  same_params = step == ref_step and all(
      np.array_equal(a, b) for a, b in zip(ref_params, params))
  same_metrics = metrics_without_timing(reference) == metrics_without_timing(workdir)
  return same_params, same_metrics


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument("--points", type=int, default=20)
  parser.add_argument("--seed", type=int, default=0)
  args = parser.parse_args()
  rng = random.Random(args.seed)
  root = tempfile.mkdtemp()
  reference = os.path.join(root, "reference")
  t0 = time.time()
  train(reference)
  reference_s = time.time() - t0
  print(f"reference run: {reference_s:.1f} s", flush=True)
  ok = point = 0
  while point < args.points:  # points whose first kill came before the run finished
    workdir = os.path.join(root, f"killed{point}")
    # Anywhere in a run: start-up, a step, an evaluation, a checkpoint write.
    delays = [rng.uniform(1.0, 0.9 * reference_s) for _ in range(rng.randint(1, 2))]
    kills = train_with_kills(workdir, delays)
    if kills:
      same_params, same_metrics = check(reference, workdir)
      ok += same_params and same_metrics
      print(json.dumps({"point": point, "kill_after_s": [round(d, 2) for d in delays],
                        "kills": kills, "params_bitwise_equal": same_params,
                        "metrics_equal": same_metrics}), flush=True)
      point += 1
    shutil.rmtree(workdir)
  print(f"{ok} of {args.points} killed runs finished with bitwise-equal parameters and equal "
        "metrics", flush=True)
  shutil.rmtree(root)
  return 0 if ok == args.points else 1


if __name__ == "__main__":
  sys.exit(main())

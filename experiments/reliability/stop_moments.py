r"""Stop signals at random moments of start-up, each in a fresh interpreter as a user starts
it: exit status, seconds from the signal to the exit, and any crash text.

  python experiments/reliability/stop_moments.py --runs 20 [--root DIR] > stop_moments.jsonl

Each run starts `python -m <command>` from the checkout `--root` (default: this one), waits
for the case's marker line, sleeps a random delay (seeded, uniform over the case's window,
which covers the step's compilation), sends SIGTERM or SIGINT (alternating) and records one
JSON line. Cases cycle: LeNet-5 as the README trains it, a sweep cell, and AlexNet's layers
and towers at 67x67.
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

CRASH = ("Traceback", "terminate called", "FATAL", "Fatal Python", "Segmentation fault",
         "Exception ignored", "Aborted", "core dumped")
CASES = {
    "lenet5": (["lenet_jax.main", "--config=configs/lenet5.py",
                "--config.data.source=embedded"], "OUTPUT ", 2.5),
    "sweep": (["lenet_jax.sweep", "--config=configs/lenet5.py", "--sweep=smoke", "--seeds=2",
               "--config.data.source=embedded"], "[cell 1/4]", 4.0),
    "alexnet": (["lenet_jax.main", "--config=configs/alexnet.py:data=synthetic,runlocal",
                 "--config.data.resize=67", "--config.data.synthetic_shape=(67, 67, 3)",
                 "--config.model.fc_units=256", "--config.data.synthetic_classes=10"],
                "data: synthetic", 6.0),
}


def run_once(root: str, case: str, delay: float, signum: int) -> dict:
  args, marker, _ = CASES[case]
  workdir = tempfile.mkdtemp(prefix="stop_moments_")
  shutil.rmtree(workdir)
  env = dict(os.environ, PYTHONUNBUFFERED="1", JAX_PLATFORMS="cpu", LENET_JAX_OFFLINE="1",
             PYTHONPATH=root)
  proc = subprocess.Popen([sys.executable, "-m", *args, f"--workdir={workdir}"], cwd=root,
                          env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
  seen = []
  for line in proc.stdout:
    seen.append(line)
    if marker in line:
      break
  time.sleep(delay)
  proc.send_signal(signum)
  sent = time.monotonic()
  rest, _ = proc.communicate(timeout=600)
  seconds = time.monotonic() - sent
  out = "".join(seen) + rest
  shutil.rmtree(workdir, ignore_errors=True)
  return {"case": case, "signal": signal.Signals(signum).name, "delay_s": round(delay, 3),
          "returncode": proc.returncode, "exit_s": round(seconds, 2),
          "crash": [word for word in CRASH if word in out],
          "stopped": [line for line in out.splitlines() if line.startswith("stopped")]}


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--runs", type=int, default=20)
  parser.add_argument("--root", default=os.path.dirname(os.path.dirname(os.path.dirname(
      os.path.abspath(__file__)))))
  parser.add_argument("--cases", default=",".join(CASES))
  parser.add_argument("--seed", type=int, default=0)
  args = parser.parse_args()
  rng = random.Random(args.seed)
  cases = args.cases.split(",")
  for i in range(args.runs):
    case = cases[i % len(cases)]
    signum = (signal.SIGTERM, signal.SIGINT)[i % 2]
    print(json.dumps(run_once(args.root, case, rng.uniform(0, CASES[case][2]), signum)),
          flush=True)


if __name__ == "__main__":
  main()

r"""Scores a committee of trained runs: their outputs added, as boosted LeNet-4's
members' are (lenet_jax/boosting.py), for any runs of the same dataset.

  python -m lenet_jax.committee --runs=runs/a,runs/b,runs/c \
      [--test_dir=../shared/data/mnist_test] [--combine=logits] [--out=committee.json]

Each run's last checkpoint is scored on the test split of the first run's config
(or the IDX directory --test_dir); the command prints each run's test error and
the committee's, and writes them to --out as JSON.
"""

import json
import os

from absl import flags

from lenet_jax import boosting, cli, data, preemption, run_record
from lenet_jax.errors import UserError, exit_on_user_error

_RUNS = flags.DEFINE_list("runs", None, "Run directories, comma-separated (two or more).")
_TEST_DIR = flags.DEFINE_string("test_dir", "", "An IDX directory to take the test split from "
                                "instead of the first run's.")
_COMBINE = flags.DEFINE_enum("combine", "probabilities", boosting.COMBINES,
                             "What is added: the runs' softmax outputs or their logits.")
_OUT = flags.DEFINE_string("out", "", "A JSON file for the scores.")


@exit_on_user_error
def main(argv):
  cli.begin(argv, runs="two or more run directories, comma-separated")
  runs = _RUNS.value
  if len(runs) < 2:
    raise UserError(f"--runs names {len(runs)} run; a committee needs two or more")
  for run in runs:
    if not os.path.isfile(os.path.join(run, run_record.CONFIG)):
      raise UserError(f"--runs: {run} is not a lenet_jax run directory (no {run_record.CONFIG})")
  configs = [run_record.load_config(r) for r in runs]
  names = {c.data.name for c in configs}
  if len(names) > 1:
    raise UserError(f"the runs were trained on different datasets ({', '.join(sorted(names))})")
  test_config = configs[0].data
  if _TEST_DIR.value:
    test_config = test_config.copy_and_resolve_references()
    with test_config.unlocked():
      test_config.test_dir = _TEST_DIR.value
  with preemption.StopSignals() as stop:  # a stop while loading ends at the first chunk
    test_x, test_y = data.load(test_config, ("test",)).split("test")
    result = boosting.score(configs, runs, test_x, test_y, _COMBINE.value, stop)
  for run, error in zip(runs, result["member_test_errors"]):
    print(f"{run}: test error {100 * error:.2f}%")
  print(f"committee of {len(runs)} ({_COMBINE.value} added): test error "
        f"{100 * result['committee_test_error']:.2f}% on {result['test_images']:,} test images",
        flush=True)
  if _OUT.value:
    os.makedirs(os.path.dirname(os.path.abspath(_OUT.value)), exist_ok=True)
    with open(_OUT.value, "w") as f:
      json.dump(result, f, indent=1)


if __name__ == "__main__":
  cli.run(main, require_config=False)

r"""Scores the last checkpoint of a run on the test split of any data source.

  python -m lenet_jax.evaluate --workdir=runs/x \
      --config.data.source=idx --config.data.dir=../shared/data/mnist_test

The run's own config.json is the starting point; `--config.*` overrides change
where the test data comes from. Prints the accuracy and writes it, with the data
used, to `<workdir>/evaluations.jsonl`.
"""

import json
import os
import sys
import time

import jax
from absl import app, flags
from ml_collections import config_flags

from lenet_jax import data, steps, train
from lenet_jax.logs import quiet_libraries
from lenet_jax.errors import UserError, exit_on_user_error

_WORKDIR = flags.DEFINE_string("workdir", None, "A run directory made by lenet_jax.main.")


def evaluate_run(config, workdir: str) -> dict:
  """Test loss and accuracy of the last checkpoint in `workdir` on `config.data`'s test split."""
  step, state, task = train.load_state(config, workdir)
  spec = task.spec
  dataset = data.load(config.data, ("test",))
  images, labels = (jax.device_put(a) for a in dataset.split("test"))
  scores = jax.device_get(steps.make_evaluate(task, min(config.eval_batch_size, len(labels)))(
      state["params"], images, labels))
  record = {"step": step, "test_accuracy": float(scores["accuracy"]),
            "test_loss": float(scores["loss"]), "test_examples": int(len(labels)),
            "data": spec.name, "source": dataset.source, "location": dataset.location,
            "time": time.strftime("%Y-%m-%dT%H:%M:%S")}
  with open(os.path.join(workdir, "evaluations.jsonl"), "a") as f:
    f.write(json.dumps(record) + "\n")
  return record


@exit_on_user_error
def main(argv):
  quiet_libraries()
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
  r = evaluate_run(flags.FLAGS.config, _WORKDIR.value)
  print(f"test accuracy {r['test_accuracy']:.4f} (error {100 * (1 - r['test_accuracy']):.2f}%, "
        f"loss {r['test_loss']:.4f}) on {r['test_examples']} {r['data']} test images from "
        f"{r['source']} ({r['location']}); checkpoint at step {r['step']}", flush=True)


@exit_on_user_error
def _define_config_from_workdir(argv):
  """The run's config.json becomes --config, so --config.* flags can override it."""
  flags.FLAGS(argv, known_only=True)
  if not _WORKDIR.value:
    raise UserError("--workdir is required: the run directory to evaluate")
  config_flags.DEFINE_config_dict("config", train.load_config(_WORKDIR.value), lock_config=True)


if __name__ == "__main__":
  _define_config_from_workdir(list(sys.argv))
  app.run(main)

r"""Scores the last checkpoint of a run on the test split of any data source.

  python -m lenet_jax.evaluate --workdir=runs/x \
      --config.data.source=idx --config.data.dir=../shared/data/mnist_test

The run's own config.json is the starting point; `--config.*` overrides change
where the test data comes from (`--workdir=RUN --print_config` lists the keys).
Prints the accuracy (and top-5 error for more than 5 classes) and writes it, with
the data used, to `<workdir>/evaluations.jsonl`. On a prepared set
(`--config.data.source=prepared --config.data.dir=DIR`) the model sees the centre
227x227 patch, or with `--config.eval.ten_crop=True` the paper's ten patches
(corners, centre and their reflections) with their softmax outputs averaged.
"""

import functools
import json
import os
import time

import jax
from absl import flags

from lenet_jax import cli, data, metrics, run_record, steps, train, validation
from lenet_jax.data import device_prefetch, preprocess
from lenet_jax.errors import UserError, exit_on_user_error

_WORKDIR = flags.DEFINE_string("workdir", None, "A run directory made by lenet_jax.main.")


def check_same_shapes(config, workdir: str) -> None:
  """The data to score must give the model the input shape and classes it was trained on."""
  trained = run_record.load_config(workdir)
  before, now = validation.validate(trained), validation.validate(config)
  shape = lambda c, s: preprocess.model_input_shape(s, c.data)  # noqa: E731
  if (shape(trained, before), before.num_classes) != (shape(config, now), now.num_classes):
    raise UserError(
        f"the run in {workdir} was trained on {before.name} (model input "
        f"{'x'.join(map(str, shape(trained, before)))}, {before.num_classes} classes); "
        f"{now.name} gives {'x'.join(map(str, shape(config, now)))} with {now.num_classes} "
        "classes: evaluate on data of the run's image shape and classes")


def evaluate_run(config, workdir: str) -> dict:
  """Test loss and accuracy of the last checkpoint in `workdir` on `config.data`'s test split."""
  check_same_shapes(config, workdir)
  step, state, task = train.load_state(config, workdir)
  spec = task.spec
  if spec.streamed:  # a prepared set or TFDS's JPEGs, batch by batch
    stream = train.open_streams(config, spec)[1]
    evaluate = steps.make_evaluate(task, stream.batch_size)
    scores = train.stream_scores(functools.partial(evaluate, state["params"]), stream,
                                 jax.device_put, device_prefetch.ahead(config.data))
    examples = len(stream.source) - len(stream.source) % jax.process_count()
    dataset = train.streamed_dataset(config, spec)
  else:
    dataset = data.load(config.data, ("test",))
    images, labels = (jax.device_put(a) for a in dataset.split("test"))
    scores = jax.device_get(steps.make_evaluate(task, min(config.eval_batch_size, len(labels)))(
        state["params"], images, labels))
    examples = len(labels)
  record = {"step": step, **metrics.test_fields(scores), "test_examples": int(examples),
            "data": spec.name, "source": dataset.source, "location": dataset.location,
            "patches": "ten" if task.ten_crop else ("centre" if task.crop else "whole"),
            "time": time.strftime("%Y-%m-%dT%H:%M:%S")}
  with open(os.path.join(workdir, "evaluations.jsonl"), "a") as f:
    f.write(json.dumps(record) + "\n")
  return record


@exit_on_user_error
def main(argv):
  cli.begin(argv)
  r = evaluate_run(flags.FLAGS.config, _WORKDIR.value)
  top5 = (f", top-5 error {100 * (1 - r['test_top5_accuracy']):.2f}%"
          if "test_top5_accuracy" in r else "")
  print(f"test accuracy {r['test_accuracy']:.4f} (error {100 * (1 - r['test_accuracy']):.2f}%"
        f"{top5}, loss {r['test_loss']:.4f}) on {r['test_examples']} {r['data']} test images"
        f"{' (ten patches each)' if r['patches'] == 'ten' else ''} from "
        f"{r['source']} ({r['location']}); checkpoint at step {r['step']}", flush=True)


if __name__ == "__main__":
  cli.run_on_a_run(main, _WORKDIR)

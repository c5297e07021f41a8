"""Scoring the last checkpoint of a run on the test split of any data source
(`python -m lenet_jax.evaluate`), with the data used, into the run's evaluations.jsonl."""

import functools
import json
import os
import time

import jax

from lenet_jax import data
from lenet_jax.common.errors import UserError
from lenet_jax.runs import validation
from lenet_jax.runs import load, run_record, scores

EVALUATIONS = "evaluations.jsonl"


def evaluate_run(config, workdir: str, out: str = "") -> dict:
  """Test loss and accuracy of the last checkpoint in `workdir` on `config.data`'s test
  split; appended to `<workdir>/evaluations.jsonl` (and to `out`, a JSON-lines file,
  when given)."""
  run_record.check_single_run(workdir)
  overrides = run_record.reader_overrides(workdir, config)
  # reader_overrides refused every key that shapes the network or its input, so the
  # data gives the trained network's input shape and classes
  now = validation.validate(config)
  step, state, task = load.load_state(config, workdir, now)
  spec = task.spec
  if spec.streamed:  # a prepared set or TFDS's JPEGs, batch by batch
    (_, stream), dataset = data.streams(config, now)
    evaluate = scores.make_evaluate(task, stream.batch_size)
    result = scores.stream_scores(functools.partial(evaluate, task.variables(state)), stream,
                                  jax.device_put, config.data.device_prefetch)
    examples = len(stream.source) - len(stream.source) % jax.process_count()
  else:
    dataset = data.load(config.data, now, ("test",))
    images, labels = (jax.device_put(a) for a in dataset.split("test"))
    result = jax.device_get(scores.make_evaluate(task, min(config.eval_batch_size, len(labels)))(
        task.variables(state), images, labels))
    examples = len(labels)
  record = {"step": step, **scores.test_fields(result), "test_examples": int(examples),
            "data": spec.name, "source": dataset.source, "location": dataset.location,
            "patches": "ten" if task.ten_crop else ("centre" if task.crop else "whole"),
            "workdir": os.path.abspath(workdir), "time": time.strftime("%Y-%m-%dT%H:%M:%S")}
  if overrides:  # how this scoring differs from the run's own config
    record["overrides"] = {k: list(v) for k, v in overrides.items()}
  line = json.dumps(record) + "\n"
  for path in filter(None, (os.path.join(workdir, EVALUATIONS), out)):
    try:
      if os.path.dirname(os.path.abspath(path)):
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
      with open(path, "a") as f:
        f.write(line)
    except OSError as e:
      raise UserError(f"cannot write {path} ({e.strerror}); the score was: "
                      f"{scores.score_text(record)}") from None
  return record


def describe(record: dict) -> str:
  """The line evaluate prints: the score, on what, from which checkpoint."""
  return (f"{scores.score_text(record)} on {record['test_examples']} {record['data']} test "
          f"images{' (ten patches each)' if record['patches'] == 'ten' else ''} from "
          f"{record['source']} ({record['location']}); checkpoint at step {record['step']}")

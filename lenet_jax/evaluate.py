r"""Scores the last checkpoint of a run on the test split of any data source
(lenet_jax/runs/evaluate.py).

  python -m lenet_jax.evaluate --workdir=runs/x \
      --config.data.source=idx --config.data.dir=DIR_WITH_t10k_FILES [--out=scores.jsonl]

The run's own config.json is the starting point; `--config.*` overrides change
where the test data comes from (`--workdir=RUN --print_config` lists the keys).
Prints the accuracy (and top-5 error for more than 5 classes) and appends it, with
the data used, to `<workdir>/evaluations.jsonl` and to `--out`. On a prepared set
(`--config.data.source=prepared --config.data.dir=DIR`) the model sees the centre
227x227 patch, or with `--config.eval.ten_crop=True` the paper's ten patches
(corners, centre and their reflections) with their softmax outputs averaged.
"""

from absl import flags

from lenet_jax.config import cli
from lenet_jax.runs import evaluate, run_record


def main(argv):
  cli.begin(argv)
  record = evaluate.evaluate_run(cli.config(), flags.FLAGS.workdir, flags.FLAGS.out)
  print(evaluate.describe(record), flush=True)


def define_flags():
  flags.DEFINE_string("workdir", None, "A run directory made by lenet_jax.main.")
  flags.DEFINE_string("out", "", "Also append the score as a JSON line to this file.")


if __name__ == "__main__":
  cli.run(main, define_flags, config=run_record.load_config,
          stop_anywhere="before the score was recorded")

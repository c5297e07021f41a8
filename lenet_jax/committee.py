r"""Scores a committee of trained runs: their outputs added, as boosted LeNet-4's
members' are (lenet_jax/runs/committee.py), for any runs of the same dataset.

  python -m lenet_jax.committee --runs=runs/a,runs/b,runs/c \
      [--test_dir=../shared/data/mnist_test] [--combine=logits] [--out=committee.json]

Each run's last checkpoint is scored on the test split of the first run's config
(or the IDX directory --test_dir); the command prints each run's test error and
the committee's, and writes them to --out as JSON.
"""

from absl import flags

from lenet_jax.config import cli
from lenet_jax.runs import committee


def main(argv):
  cli.begin(argv, runs="two or more run directories, comma-separated")
  runs, combine = flags.FLAGS.runs, flags.FLAGS.combine
  result = committee.score_runs(runs, combine, flags.FLAGS.test_dir, flags.FLAGS.out)
  for run, error in zip(runs, result["member_test_errors"]):
    print(f"{run}: test error {100 * error:.2f}%")
  print(f"committee of {len(runs)} ({combine} added): test error "
        f"{100 * result['committee_test_error']:.2f}% on {result['test_images']:,} test images",
        flush=True)


def define_flags():
  flags.DEFINE_list("runs", None, "Run directories, comma-separated (two or more).")
  flags.DEFINE_string("test_dir", "", "An IDX directory to take the test split from instead "
                      "of the first run's.")
  flags.DEFINE_enum("combine", "probabilities", committee.COMBINES,
                    "What is added: the runs' softmax outputs or their logits.")
  flags.DEFINE_string("out", "", "A JSON file for the scores.")


if __name__ == "__main__":
  cli.run(main, define_flags, config=cli.NO_CONFIG,
          stop_anywhere="before the committee was scored; nothing was written")

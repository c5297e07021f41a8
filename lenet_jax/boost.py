r"""Trains boosted LeNet-4's three members and scores their committee
(lenet_jax/training/boost.py; LeCun et al. 1998, section III.C.6).

  python -m lenet_jax.boost --config=configs/lenet4_boosted.py --workdir=runs/boosted \
      [--config.data.test_dir=DIR_WITH_t10k_FILES]

WORKDIR/member_1..3 are ordinary runs (metrics.jsonl, checkpoints; evaluate,
figures and predict take them); members 2 and 3 read their filtered training sets
from member_<k>/filtered/. WORKDIR/committee.json holds each member's and the
committee's test error. Rerunning the command resumes where it stopped.
"""

from absl import flags

from lenet_jax.config import cli
from lenet_jax.common.errors import UserError
from lenet_jax.config import loading
from lenet_jax.training import boost


def main(argv):
  cli.begin(argv, workdir="where the three members and committee.json go")
  workdir = flags.FLAGS.workdir
  if "boosting" not in cli.config():
    raise UserError(f"{loading.split(cli.config_arg())[0]} has no boosting section; use "
                    "configs/lenet4_boosted.py or add one like it")
  result = boost.boost(cli.config(), workdir, say=lambda s: print(s, flush=True))
  errors = ", ".join(f"{100 * e:.2f}%" for e in result["member_test_errors"])
  print(f"done: test error of the members {errors}; committee ({result['combine']} added) "
        f"{100 * result['committee_test_error']:.2f}% on {result['test_images']:,} test images; "
        f"{workdir}/{boost.COMMITTEE}", flush=True)


def define_flags():
  flags.DEFINE_string("workdir", None, "Where the members and the committee's scores go; an "
                      "existing one is resumed.")


if __name__ == "__main__":
  cli.run(main, define_flags)

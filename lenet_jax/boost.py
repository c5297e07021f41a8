r"""Trains boosted LeNet-4's three members and scores their committee
(lenet_jax/boosting.py; LeCun et al. 1998, section III.C.6).

  python -m lenet_jax.boost --config=configs/lenet4_boosted.py --workdir=runs/boosted \
      [--config.data.test_dir=../shared/data/mnist_test]

WORKDIR/member_1..3 are ordinary runs (metrics.jsonl, checkpoints; evaluate,
figures and predict take them); members 2 and 3 read their filtered training sets
from member_<k>/filtered/. WORKDIR/committee.json holds each member's and the
committee's test error. Rerunning the command resumes where it stopped.
"""

from absl import flags
from ml_collections import config_flags

from lenet_jax import boosting, cli
from lenet_jax.errors import UserError, exit_on_user_error

_CONFIG = config_flags.DEFINE_config_file("config", None, "A config with a boosting section "
                                          "(configs/lenet4_boosted.py).", lock_config=True)
_WORKDIR = flags.DEFINE_string("workdir", None, "Where the members and the committee's scores "
                               "go; an existing one is resumed.")


@exit_on_user_error
def main(argv):
  cli.begin(argv, workdir="where the three members and committee.json go")
  config = _CONFIG.value
  if "boosting" not in config:
    raise UserError(f"{flags.FLAGS['config'].config_filename} has no boosting section; use "
                    "configs/lenet4_boosted.py or add one like it")
  result = boosting.boost(config, _WORKDIR.value, say=lambda s: print(s, flush=True))
  errors = ", ".join(f"{100 * e:.2f}%" for e in result["member_test_errors"])
  print(f"done: test error of the members {errors}; committee ({result['combine']} added) "
        f"{100 * result['committee_test_error']:.2f}% on {result['test_images']:,} test images; "
        f"{_WORKDIR.value}/{boosting.COMMITTEE}", flush=True)


if __name__ == "__main__":
  cli.run(main)

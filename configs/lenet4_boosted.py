"""Boosted LeNet-4 (LeCun et al. 1998, section III.C.6): three LeNet-4s, the second
trained on patterns the first filters (half it gets right, half wrong), the third on
patterns the first two disagree on; the committee adds their outputs.

  python -m lenet_jax.boost --config=configs/lenet4_boosted.py --workdir=runs/boosted
  python -m lenet_jax.boost --config=configs/lenet4_boosted.py:paper --workdir=runs/boosted_paper
  python -m lenet_jax.boost --config=configs/lenet4_boosted.py:runlocal --workdir=runs/b  # minutes

Each member is configs/lenet4.py. The filters see random affine distortions of the
training digits (the ranges of `config.distortions`), as the paper did for want of
patterns the first net gets wrong.
"""

import ml_collections

from configs import lenet4
from lenet_jax.config import arguments

ARGS = lenet4.ARGS


def get_config(arg: str = ""):
  args = arguments.parse(arg, ARGS, __file__)
  config = lenet4.get_config(arg)
  config.boosting = ml_collections.ConfigDict()
  config.boosting.patterns = "distorted"  # or 'training': the training digits themselves
  config.boosting.set_size = 0  # patterns in members 2's and 3's sets; 0: the training set's size
  config.boosting.max_candidates = 0  # patterns offered to a filter at most; 0: 100 x set_size
  config.boosting.combine = "probabilities"  # or 'logits': what the committee adds
  if args.get("runlocal"):  # members of 2 epochs, filtered sets of 1,000 patterns
    config.boosting.set_size = 1000
  return config

"""LeNet-4 (LeCun et al. 1998, section III.C.6) on LeNet-5's modern recipe: the same
stages, activation, pooling, optimizer and schedule as configs/lenet5.py.

  python -m lenet_jax.main --config=configs/lenet4.py --workdir=runs/lenet4
  python -m lenet_jax.main --config=configs/lenet4.py:paper     # scaled tanh, subsampling, paper init
  python -m lenet_jax.summary --config=configs/lenet4.py:paper  # 16,977 parameters, 264,273 connections

32x32 inputs: the 28x28 digits (20x20 boxes centred by centre of mass) padded by 2,
as for LeNet-5. The paper gives neither the map counts nor the hidden layer's size:
`lenet_jax/models/early_lenets.py` says what is chosen and what each choice matches.
"""

from configs import lenet1, lenet5
from lenet_jax.config import arguments

ARGS = lenet1.ARGS


def get_config(arg: str = ""):
  args = arguments.parse(arg, ARGS, __file__)
  config = lenet5.family_config(args)
  config.model.name = "lenet4"
  for key in ("c3", "output", "map_j"):  # a full C3 and softmax logits, fixed
    del config.model[key]
  config.model.hidden = 37  # F5's units
  if args.get("paper"):
    lenet1.paper_pieces(config)
  return config


sweep = lenet1.sweep

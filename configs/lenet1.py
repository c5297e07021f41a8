"""LeNet-1 (LeCun et al. 1998, section III.C.6; the 1990 network) on LeNet-5's modern
recipe: the same stages, activation, pooling, optimizer and schedule as configs/lenet5.py.

  python -m lenet_jax.main --config=configs/lenet1.py --workdir=runs/lenet1
  python -m lenet_jax.main --config=configs/lenet1.py:paper     # scaled tanh, subsampling, paper init
  python -m lenet_jax.summary --config=configs/lenet1.py:paper  # 2,578 parameters, 98,442 connections

The digits are down-sampled to 16x16 and centred in the 28x28 input layer, as the
paper's LeNet-1 read them (`data.digit_size=16`, `data.pad_to=28`).
"""

from configs import lenet5
from lenet_jax.config import arguments

ARGS = dict(lenet5.ARGS, paper=None)


def get_config(arg: str = ""):
  args = arguments.parse(arg, ARGS, __file__)
  config = lenet5.family_config(args)
  config.model.name = "lenet1"
  config.model.c3 = "table"  # 20 C3 kernels, the 1990 paper's count; 'full': all 48
  del config.model["output"]  # softmax logits: the RBF units need LeNet-5's F6
  del config.model["map_j"]
  config.data.digit_size = 16
  config.data.pad_to = 28
  if args.get("paper"):
    paper_pieces(config)
  return config


def paper_pieces(config) -> None:
  """The 1998 paper's units for the early LeNets: scaled tanh, trainable subsampling,
  the +-2.4/F_i initialisation and the -0.1 / 1.175 input levels."""
  config.model.activation = "scaled_tanh"
  config.model.pooling = "subsample"
  config.model.init = "paper"
  config.data.normalization = "paper"


def sweep(name: str) -> list[dict]:
  """LeNet-5's sweeps that apply here (not c3_output: no RBF output without F6)."""
  if name == "c3_output":
    raise KeyError("LeNet-1 has no RBF output; sweeps here: ablations, optimizer, smoke")
  return lenet5.sweep(name)

"""The modern LeNet-5 most tutorials teach: ReLU, max pooling, full C3, softmax, AdamW.

  python -m lenet_jax.main --config=configs/lenet5.py
  python -m lenet_jax.main --config=configs/lenet5.py:runlocal        # a quick smoke run
  python -m lenet_jax.main --config=configs/lenet5.py:data=fashion_mnist
  python -m lenet_jax.sweep --config=configs/lenet5.py --sweep=ablations --seeds=5

The LeNet family's keys (the model's, SDLM's, the distortions', the digits' padding) on
configs/base.py; configs/lenet5_1998.py, lenet1.py and lenet4.py build on this file.
"""

import ml_collections

from configs import base
from lenet_jax.config import arguments
from lenet_jax.sweeps import cells

ARGS = {"data": "NAME", "runlocal": None}


def get_config(arg: str = "") -> ml_collections.ConfigDict:
  args = arguments.parse(arg, ARGS, __file__)
  return family_config(args)


def family_config(args: dict) -> ml_collections.ConfigDict:
  """The LeNet family's config for parsed `args` (the other LeNet configs start here)."""
  config = base.get_config()
  config.data.name = args.get("data", "mnist")

  # Stochastic diagonal Levenberg-Marquardt (optimizer='sdlm'; paper appendix C).
  config.sdlm = ml_collections.ConfigDict()
  config.sdlm.mu = 0.02
  config.sdlm.samples = 500  # training samples the curvature is estimated from
  config.sdlm.period_epochs = 1  # re-estimate before every this many passes
  # 'exact': diag(J^T H J) of the Gauss-Newton matrix; 'paper': the paper's estimate,
  # second derivatives back-propagated with squared weights, no cross terms (eqs. 21-23).
  config.sdlm.curvature = "exact"

  # Random affine distortions of the training images (paper section III.C).
  config.distortions = ml_collections.ConfigDict()
  config.distortions.enabled = False
  config.distortions.translate = 2.0  # pixels, each direction
  config.distortions.scale = 0.1  # zoom factor in 1 +- scale
  config.distortions.squeeze = 0.1  # rows x (1 +- squeeze), columns / (1 +- squeeze)
  config.distortions.shear = 0.15  # horizontal shear
  # Elastic distortions (Simard et al. 2003; not in the 1998 paper): a random
  # displacement field smoothed by a Gaussian of elastic_sigma pixels, times
  # elastic_alpha (0: off). Simard et al. used sigma 4, alpha 34 on 29x29 digits.
  config.distortions.elastic_alpha = 0.0
  config.distortions.elastic_sigma = 4.0
  # The ranges above are ours (the paper gives none). 'online': a new transform per
  # image per step; 'fixed': the paper's protocol, the originals plus `copies` distorted
  # copies of each made once before training (60,000 + 540,000 in the paper: 9 each).
  config.distortions.protocol = "online"
  config.distortions.copies = 9

  config.model.name = "lenet5"
  config.model.activation = "relu"
  config.model.pooling = "max"
  config.model.c3 = "full"
  config.model.output = "dense"
  config.model.init = "default"
  # How convolutions and pooling are computed (never what): 'xla' (lax convolutions,
  # reduce_window), 'matmul' (banded matrix products, several times faster on CPUs),
  # 'auto' (matmul on a CPU, xla on GPUs and TPUs).
  config.model.implementation = "auto"
  config.model.map_j = 1.0  # the constant j of the MAP criterion (eq. 9), used by output=rbf
  # 'none' (the paper's), or 'batchnorm' (Ioffe & Szegedy 2015, not in the 1998 paper) on
  # the weighted sums of C1, C3, C5 and F6 before their squashing function.
  config.model.norm = "none"
  config.model.batchnorm_momentum = 0.9  # running = 0.9 running + 0.1 batch (PyTorch's 0.1)
  config.model.batchnorm_epsilon = 1e-5

  config.data.pad_to = 32  # the side images are padded to (LeNet-5's 32x32 input)
  config.data.digit_size = 0  # > 0: fit each digit into a centred square of this side (LeNet-1)

  if args.get("runlocal"):
    config.num_epochs = 2
    config.batch_size = 64
  return config


def sweep(name: str) -> list[dict]:
  """The ablations `python -m lenet_jax.sweep --sweep=<name>` runs: override dicts, one per cell."""
  grids = {
      # The activation x subsampling ablation: 5 x 3 cells.
      "ablations": cells.product({
          "model.activation": ["relu", "tanh", "scaled_tanh", "sigmoid", "gelu"],
          "model.pooling": ["max", "avg", "subsample"]}),
      # The 1998 paper's structural choices on the modern recipe: C3's connection
      # table (section II.B, table I) and the RBF output with the MAP loss (eq. 9).
      "c3_output": cells.product({"model.c3": ["full", "table"],
                                  "model.output": ["dense", "rbf"]}),
      "optimizer": [{"optimizer": "adamw", "learning_rate": 2e-3, "weight_decay": 0.05},
                    {"optimizer": "sgd", "learning_rate": 0.05, "weight_decay": 5e-4}],
      # Four cells of 3 epochs, to try the runner (about 15 s on 2 CPU cores, one seed).
      # BatchNorm on the modern recipe, against none.
      "norm": cells.product({"model.norm": ["none", "batchnorm"]}),
      "smoke": cells.product({"model.activation": ["relu", "tanh"],
                              "model.pooling": ["max", "avg"], "num_epochs": [3]}),
  }
  if name not in grids:
    raise KeyError(f"sweeps here: {', '.join(grids)}")
  return grids[name]

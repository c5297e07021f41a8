"""The modern LeNet-5 most tutorials teach: ReLU, max pooling, full C3, softmax, Adam.

  python -m lenet_jax.main --config=configs/lenet5.py
  python -m lenet_jax.main --config=configs/lenet5.py:runlocal        # a quick smoke run
  python -m lenet_jax.main --config=configs/lenet5.py:data=fashion_mnist
  python -m lenet_jax.sweep --config=configs/lenet5.py --sweep=ablations --seeds=5
"""

import ml_collections

from lenet_jax import sweeps


def parse_arg(arg: str) -> dict:
  """'a=b,c' -> {'a': 'b', 'c': True}: the big_vision `--config=file.py:args` idiom."""
  out = {}
  for item in filter(None, (arg or "").split(",")):
    key, _, value = item.partition("=")
    out[key.strip()] = value.strip() if value else True
  return out


def get_config(arg: str = "") -> ml_collections.ConfigDict:
  args = parse_arg(arg)
  config = ml_collections.ConfigDict()
  config.seed = 0
  config.num_epochs = 50
  config.batch_size = 200
  config.eval_batch_size = 1000
  config.steps_per_scan = 0  # train steps per lax.scan; 0: 100 on GPU/TPU; on CPU 20, or 1 with XLA convolutions

  config.optimizer = "adamw"
  config.learning_rate = 2e-3
  config.momentum = 0.9
  config.nesterov = False
  config.weight_decay = 0.05  # AdamW's decoupled decay
  config.schedule = "cosine"
  config.warmup_epochs = 0.0
  config.piecewise_epochs = ()
  config.piecewise_values = ()
  config.learning_rate_per_sample = False  # True: rates are per sample, scaled by batch_size

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

  config.model = ml_collections.ConfigDict()
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

  config.data = ml_collections.ConfigDict()
  config.data.name = args.get("data", "mnist")
  config.data.source = "auto"
  config.data.dir = ""
  config.data.test_dir = ""  # IDX directory to take the test split from instead (evaluation only)
  config.data.tfds_data_dir = ml_collections.config_dict.placeholder(str)
  config.data.normalization = "mean_std"
  config.data.synthetic_shape = (28, 28, 1)
  config.data.synthetic_train_size = 2048
  config.data.synthetic_test_size = 512
  config.data.synthetic_classes = 10

  config.checkpoint_keep = 3
  # A run directory whose parameters start this run (fine-tuning): every parameter
  # whose shape fits is taken (a new class count re-initialises the output layer).
  config.init_from = ""
  config.debug_nans = False  # True: JAX's NaN checking, to find where a NaN starts (slow)
  config.log_step_losses = False  # True: every step's loss into <workdir>/steps.jsonl

  if args.get("runlocal"):
    config.num_epochs = 2
    config.batch_size = 64
  return config


def sweep(name: str) -> list[dict]:
  """The ablations `python -m lenet_jax.sweep --sweep=<name>` runs: override dicts, one per cell."""
  grids = {
      # The activation x subsampling ablation: 5 x 3 cells.
      "ablations": sweeps.product({
          "model.activation": ["relu", "tanh", "scaled_tanh", "sigmoid", "gelu"],
          "model.pooling": ["max", "avg", "subsample"]}),
      # The 1998 paper's structural choices on the modern recipe: C3's connection
      # table (section II.B, table I) and the RBF output with the MAP loss (eq. 9).
      "c3_output": sweeps.product({"model.c3": ["full", "table"],
                                   "model.output": ["dense", "rbf"]}),
      "optimizer": [{"optimizer": "adamw", "learning_rate": 2e-3, "weight_decay": 0.05},
                    {"optimizer": "sgd", "learning_rate": 0.05, "weight_decay": 5e-4}],
      # Four cells of 3 epochs, to try the runner (about 15 s on 2 CPU cores, one seed).
      "smoke": sweeps.product({"model.activation": ["relu", "tanh"],
                               "model.pooling": ["max", "avg"], "num_epochs": [3]}),
  }
  if name not in grids:
    raise KeyError(f"sweeps here: {', '.join(grids)}")
  return grids[name]

"""The keys every lenet_jax config holds: the training loop's, the optimizer's and the data's.

A model family's config builds on this one (configs/lenet5.py, configs/alexnet.py) and adds
the keys that act on it; the library reads every key from the config and supplies no
defaults of its own. `--print_config` lists a config's keys with their values.
"""

import ml_collections


def get_config() -> ml_collections.ConfigDict:
  config = ml_collections.ConfigDict()
  config.seed = 0
  config.num_epochs = 50
  config.batch_size = 200
  config.eval_batch_size = 1000
  # Train steps compiled into one lax.scan; 0: per backend and model (100 on GPUs and TPUs;
  # on a CPU 20 for LeNet's matmul implementation, 1 where XLA runs convolutions).
  config.steps_per_scan = 0

  config.optimizer = "adamw"  # sgd, adam, adamw (and sdlm where the config has an sdlm section)
  config.learning_rate = 2e-3
  config.momentum = 0.9  # sgd's
  config.nesterov = False  # sgd's
  config.weight_decay = 0.05  # adamw's decoupled decay; coupled (added to the gradient) otherwise
  config.schedule = "cosine"  # constant, cosine, piecewise
  config.warmup_epochs = 0.0
  config.piecewise_epochs = ()  # piecewise: learning_rate until the first, then the values
  config.piecewise_values = ()
  config.learning_rate_per_sample = False  # True: rates are per sample, scaled by batch_size
  # SGD's momentum: 'gradient' (optax's: the velocity sums gradients, the rate scales it) or
  # 'step' (AlexNet's section 5: v <- 0.9 v - rate (decay w + gradient), w <- w + v, so a
  # new rate acts through the velocity gradually). The same steps at a constant rate. Other
  # optimizers ignore it.
  config.momentum_form = "gradient"
  # Per-parameter multipliers, ((pattern, multiplier), ...): a parameter whose name
  # ('conv1.kernel', 'fc8.bias', LeNet's 'c1.conv.bias') matches the fnmatch pattern takes
  # the first matching multiplier of the learning rate / weight decay; (): none. The 2012
  # AlexNet code: (('*.bias', 2.0),) and (('*.bias', 0.0),).
  config.lr_multipliers = ()
  config.weight_decay_multipliers = ()

  config.checkpoint_keep = 3
  # A checkpoint at the end of an epoch once this many seconds have passed since the last
  # one (0: every epoch), at the last epoch, and on a stop signal.
  config.checkpoint_secs = 0.0
  # A run directory whose parameters start this run (fine-tuning): every parameter
  # whose shape fits is taken (a new class count re-initialises the output layer).
  config.init_from = ""
  config.debug_nans = False  # True: JAX's NaN checking, to find where a NaN starts (slow)
  config.log_step_losses = False  # True: every step's loss into <workdir>/steps.jsonl
  # Where standard output is not a terminal (a SLURM log, a pipe), a progress line this
  # often within an epoch, in seconds (0: none); a terminal shows a progress bar instead.
  config.progress_secs = 60.0

  config.model = ml_collections.ConfigDict()
  config.model.name = ""  # set by the family's config
  # A family defined outside lenet_jax: the Python module that registers it (the model
  # contract, lenet_jax/models/registry.py); "": one of lenet_jax/models/.
  config.model.module = ""

  config.data = ml_collections.ConfigDict()
  config.data.name = "mnist"
  config.data.source = "auto"
  config.data.dir = ""
  config.data.test_dir = ""  # IDX directory to take the test split from instead
  config.data.tfds_data_dir = ml_collections.config_dict.placeholder(str)
  # mean_std: (x - mean) / std per channel; paper: LeNet-5's -0.1 / 1.175 levels;
  # subtract_mean: AlexNet's 0-255 values less the per-channel mean.
  config.data.normalization = "mean_std"
  # Caffe's input conventions, for its weights (lenet_jax.import_weights sets them):
  # channel_order 'bgr', normalization 'subtract_mean', pixel_mean (104, 117, 123).
  config.data.channel_order = "rgb"
  config.data.pixel_mean = ()  # 0-255 per channel of the model's order; (): the dataset's
  config.data.synthetic_shape = (28, 28, 1)  # data.name='synthetic': random images
  config.data.synthetic_train_size = 2048
  config.data.synthetic_test_size = 512
  config.data.synthetic_classes = 10
  return config

r"""AlexNet (Krizhevsky et al. 2012) on one device, its two towers as grouped convolutions.

  python -m lenet_jax.main --config=configs/alexnet.py                      # Fashion-MNIST at 227x227x3
  python -m lenet_jax.main --config=configs/alexnet.py:data=cifar10         # via TFDS
  python -m lenet_jax.main --config=configs/alexnet.py:data=synthetic       # random images, 1000 classes
  python -m lenet_jax.summary --config=configs/alexnet.py:data=synthetic    # the paper's 1000-class table
  python -m lenet_jax.main --config=configs/alexnet.py:data=imagenet2012 \
      --config.data.tfds_data_dir=/data/tfds                                # streamed with grain
  python -m lenet_jax.prepare --config=configs/alexnet.py:data=imagenet2012 \
      --config.data.source=folder --config.data.dir=/data/imagenet --out=/data/imagenet256
  python -m lenet_jax.main --config=configs/alexnet.py:data=imagenet2012 \
      --config.data.source=prepared --config.data.dir=/data/imagenet256     # no decoding

Section 5: SGD with momentum 0.9, weight decay 5e-4, batch 128, learning rate
0.01 divided by 10 three times over about 90 epochs. The AlexNet family's keys (the
model's, the streamed and prepared input's, the ten-patch evaluation's, the device
mesh's) on configs/base.py.
"""

import ml_collections

from configs import base
from lenet_jax.config import arguments

ARGS = {"data": "NAME", "runlocal": None}
# Resident datasets trained for 10 epochs instead of the paper's 90.
SMALL_DATASETS = ("fashion_mnist", "mnist", "kmnist", "cifar10")


def get_config(arg: str = ""):
  args = arguments.parse(arg, ARGS, __file__)
  config = base.get_config()
  config.data.name = args.get("data", "fashion_mnist")
  config.model.name = "alexnet"
  config.model.towers = 2
  config.model.dtype = "float32"  # compute dtype; 'bfloat16' keeps fp32 parameters
  config.model.grouped_conv = "split"  # or 'feature_group' (XLA's grouped convolution)
  # Convolution inputs zero-padded to a multiple of this many channels in the
  # step (conv1's 3; values and parameters unchanged). 0: auto, 8 for bfloat16 on
  # a GPU, 1 (none) elsewhere.
  config.model.channel_multiple = 0
  # How, never what (lenet_jax/models/alexnet_ops.py; equal values and gradients up to
  # rounding): conv1 'strided' or 'space_to_depth' (a stride-1 conv over 4x4 blocks
  # folded into channels; 'auto': on a GPU); the max pools' gradient by XLA's
  # 'select_and_scatter' or 'first_max' (slices and pads, slower on an H200); the
  # LRN's sum of squares in 'float32' or the 'compute' dtype ('auto': compute for
  # bfloat16 on a GPU).
  config.model.conv1 = "auto"
  config.model.pool_gradient = "select_and_scatter"
  config.model.lrn_dtype = "auto"
  # 'paper': N(0, 0.01), biases 1 in conv2/4/5 and fc6/7 (section 5); 'caffe':
  # bvlc_alexnet's fillers (std 0.01, fc6/7 0.005, biases 0.1 where the paper has 1);
  # 'he': N(0, 2/fan_in); 'torchvision': PyTorch's default, uniform +-1/sqrt(fan_in). With
  # normalised inputs 'paper' stays at chance in short runs (experiments/alexnet measures
  # why); the paper's input scale is data.normalization='subtract_mean' (0-255 less the
  # mean, section 2).
  config.model.init = "paper"
  # A Gaussian init's weight std per layer, conv1..fc8, in place of the init's own; ():
  # the init's. The 2012 code (layers-145.cfg): 0.01, 0.01, 0.03, 0.03, 0.03, 0.01, 0.01, 0.01.
  config.model.init_std = ()
  # Section 4.2: dropout 0.5 "in the first two fully-connected layers", on fc6's and
  # fc7's outputs ('paper', as Caffe's bvlc_alexnet); 'torchvision' drops their inputs.
  config.model.dropout_placement = "paper"
  # Section 4.2: "At test time, we use all the neurons but multiply their outputs by 0.5"
  # ('test_time': kept units unscaled in training, as the 2012 code's "hs" layers);
  # 'inverted': kept units x 1/(1-rate) in training, none at test (PyTorch, Caffe).
  config.model.dropout_scaling = "test_time"
  # The paper's ablations, each with the paper's claim:
  # - activation: 'relu' (the paper's); 'tanh' and LeNet-5's set. Section 3.1, Figure 1:
  #   ReLUs reach 25% training error on CIFAR-10 six times faster than tanh units.
  config.model.activation = "relu"
  # - norm: 'lrn', the paper's local response normalisation after conv1's and conv2's
  #   ReLU; 'none'; or 'batchnorm' (Ioffe & Szegedy 2015) in its place, before the ReLU.
  #   Section 3.3: LRN lowers top-1 / top-5 error by 1.4% / 1.2%.
  config.model.norm = "lrn"
  config.model.batchnorm_momentum = 0.9  # running = 0.9 running + 0.1 batch (PyTorch's 0.1)
  config.model.batchnorm_epsilon = 1e-5
  #   The LRN's formula (lenet_jax/models/lrn.py): 'paper' (k=2, n=5, alpha=1e-4 on the
  #   sum of squares, beta=0.75, within a tower), 'cuda_convnet' (the 2012 code: alpha/n,
  #   k=2, within a tower) or 'caffe' (bvlc_alexnet: alpha/n, k=1, across the towers).
  config.model.lrn = "paper"
  #   conv1's LRN on its 'relu' outputs (the paper) or its 'linear' ones, the ReLU after
  #   the pool (the 2012 code, layers-145.cfg); and the 2012 code's second, within-map
  #   normalisation after conv2's (rnorm, 5x5).
  config.model.conv1_norm_input = "relu"
  config.model.conv2_rnorm = False
  # - pooling: 'overlapping' (3x3, stride 2) or 'nonoverlapping' (2x2, stride 2, the
  #   same output sizes). Section 3.4: overlapping lowers the errors by 0.4% / 0.3%.
  config.model.pooling = "overlapping"
  # - dropout: the rate on fc6's and fc7's outputs; 0 turns it off. Section 4.2:
  #   without dropout the network overfits substantially.
  config.model.dropout = 0.5
  # - width: a multiplier on conv1-conv4's kernel counts. Section 3.2: two towers
  #   beat "a net with half as many kernels in each convolutional layer trained on one
  #   GPU" (whose last conv layer and FC layers keep their size) by 1.7% / 1.2%:
  #   that net is towers=1, width=0.5 (59,798,312 parameters).
  config.model.width = 1.0
  # fc6's and fc7's units (the paper's 4096), split over the towers.
  config.model.fc_units = 4096
  # conv1..conv5's kernel counts (figure 2); torchvision's AlexNet: 64, 192, 384, 256, 256.
  config.model.maps = (96, 256, 384, 384, 256)
  # conv1's zero padding (before, after) in each axis: none at 227 (Caffe's input); the
  # 2012 code's 224 with its rounded-up output size is (0, 3); torchvision's (2, 2).
  config.model.conv1_padding = (0, 0)
  # >0: pool5's maps averaged to this side (torchvision's AdaptiveAvgPool2d((6, 6))).
  config.model.adaptive_pool = 0

  # Resident images are resized to resize x resize with `channels` channels on the device.
  config.data.resize = 227
  config.data.channels = 3
  config.data.synthetic_shape = (227, 227, 3)
  config.data.synthetic_train_size = 2048
  config.data.synthetic_test_size = 256
  config.data.synthetic_classes = 1000  # ImageNet's, as in the paper and the PyTorch anchor
  # Streamed datasets (imagenet2012, imagenette): grain's reader threads and
  # read-ahead, and the paper's PCA colour augmentation (section 4.1).
  config.data.shorter_side = 256
  config.data.crop = 227
  config.data.threads = 16
  config.data.prefetch = 256
  config.data.workers = 0  # grain worker processes (mp_prefetch); 0: threads only
  config.data.pca_lighting = True
  # python -m lenet_jax.prepare: the paper's fixed 256x256 images made once
  # (data.source 'folder': an image-folder tree in data.dir, or 'tfds'), then trained
  # from with --config.data.source=prepared --config.data.dir=DIR.
  config.data.on_bad_image = "stop"  # an unreadable image stops preparing; 'skip' counts it
  config.data.shard_size = 1024  # images per shard file
  config.data.prepare_workers = 0  # processes; 0: one per core
  config.data.read_threads = 0  # grain threads reading a prepared set's batches; 0: a core each, <= 8
  config.data.device_prefetch = 2  # streamed batches put on the device ahead, in a thread; 0: in the loop

  # Evaluation on a prepared set: the centre patch, or the paper's ten patches (the
  # corners and centre and their reflections, softmax averaged; section 4.1).
  config.eval = ml_collections.ConfigDict()
  config.eval.ten_crop = False

  config.optimizer = "sgd"
  config.learning_rate = 0.01
  config.momentum = 0.9
  # Section 5's update rule: v <- 0.9 v - 0.0005 eps w - eps grad, w <- w + v (the rate
  # inside the velocity; 'gradient': optax's, the rate outside).
  config.momentum_form = "step"
  config.weight_decay = 5e-4
  config.schedule = "piecewise"
  config.num_epochs = 90
  config.piecewise_epochs = (30, 60, 80)
  config.piecewise_values = (0.001, 0.0001, 0.00001)
  config.batch_size = 128
  config.eval_batch_size = 256

  config.parallel = ml_collections.ConfigDict()
  config.parallel.backend = "shard_map"  # or 'pmap'
  config.parallel.data = 1
  config.parallel.model = 1  # 2: one tower per device
  config.parallel.distributed = False  # jax.distributed.initialize() for multi-host runs
  # Explicit coordinates for jax.distributed.initialize (""/0/-1: read the environment).
  config.parallel.coordinator_address = ""  # "host:port" of process 0
  config.parallel.num_processes = 0
  config.parallel.process_id = -1

  if config.data.name in SMALL_DATASETS:
    config.num_epochs = 10
    config.piecewise_epochs = (6, 9)
    config.piecewise_values = (0.001, 0.0001)
  if args.get("runlocal"):  # minutes on a laptop CPU: 8 steps of batch 8, 16 test images
    config.num_epochs = 1
    config.batch_size = 8
    config.eval_batch_size = 8
    config.data.synthetic_train_size = 64
    config.data.synthetic_test_size = 16
  return config


def sweep(name: str) -> list[dict]:
  """`python -m lenet_jax.sweep --config=configs/alexnet.py:data=... --sweep=<name>`."""
  grids = {
      # The paper's configuration, then one cell per ablation it reports.
      "paper_ablations": [
          {},
          {"model.activation": "tanh"},  # section 3.1
          {"model.towers": 1, "model.width": 0.5},  # section 3.2: one GPU, half the kernels
          {"model.norm": "none"},  # section 3.3
          {"model.norm": "batchnorm"},  # not the paper's: BatchNorm in the LRN's place
          {"model.pooling": "nonoverlapping"},  # section 3.4
          {"model.dropout": 0.0},  # section 4.2
          {"data.pca_lighting": False},  # section 4.1 (streamed data only)
      ],
  }
  # On resident data (Fashion-MNIST at 227) the PCA lighting, a streamed and prepared
  # input's augmentation, does not run: its cell would repeat the first.
  # LRN against BatchNorm against nothing at the normalisation layers' place.
  grids["norm"] = [{"model.norm": norm} for norm in ("lrn", "batchnorm", "none")]
  # The paper's text against its authors' 2012 code (configs/alexnet_2012_code.py;
  # experiments/alexnet/deviations): every code choice together, then each alone, on the
  # paper's network with He's init (which trains in short runs); then the paper's own
  # init against the code's (0.03 in conv3-5). Input-side choices (224 with conv1's
  # rounded-up output) do not act on resized resident images and are left out.
  he = {"model.init": "he"}
  biases = {"lr_multipliers": (("*.bias", 2.0),),  # twice the rate, no weight decay
            "weight_decay_multipliers": (("*.bias", 0.0),)}
  code = [{"model.lrn": "cuda_convnet"}, {"model.conv1_norm_input": "linear"},
          {"model.conv2_rnorm": True}, biases]
  grids["deviations"] = (
      [he, {**he, **{k: v for c in code for k, v in c.items()}}]
      + [{**he, **c} for c in code]
      # the other implementations' forms where the code and the text agree
      + [{**he, "momentum_form": "gradient"}, {**he, "model.dropout_scaling": "inverted"}]
      + [{}, {"model.init_std": (0.01, 0.01, 0.03, 0.03, 0.03, 0.01, 0.01, 0.01)}])
  grids["paper_ablations_resident"] = grids["paper_ablations"][:-1]
  if name not in grids:
    raise KeyError(f"sweeps here: {', '.join(grids)}")
  return grids[name]

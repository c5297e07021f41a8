r"""torchvision's AlexNet (torchvision/models/alexnet.py): the single-tower network of
Krizhevsky's "One weird trick" (arXiv 1404.5997) whose ImageNet weights most people hold.

  python -m lenet_jax.summary --config=configs/alexnet_torchvision.py          # 61,100,840
  python -m lenet_jax.import_weights --config=configs/alexnet_torchvision.py \
      --format=safetensors --file=alexnet.safetensors --workdir=runs/tv_alexnet

Against configs/alexnet.py (the paper's): conv1..conv5 of 64, 192, 384, 256 and 256 maps,
one tower, no response normalisation, conv1 padded by 2 on a 224x224 crop, pool5's maps
averaged to 6x6 (AdaptiveAvgPool2d, the identity at 224), dropout on fc6's and fc7's
inputs (scaled in training, PyTorch's nn.Dropout), PyTorch's default initialisation,
torch.optim.SGD's momentum (the rate outside the velocity), and torchvision's ImageNet input: the shorter
side to 256, the centre 224, then (x - mean) / std with the ImageNet statistics
(data.normalization='mean_std'). Training as torchvision's reference recipe for AlexNet
(references/classification): SGD, learning rate 0.01, momentum 0.9, weight decay 1e-4,
divided by 10 every 30 of 90 epochs, batch 256 (on ImageNet; a small dataset keeps
configs/alexnet.py's schedule and batch). Every key of configs/alexnet.py applies.
"""

from configs import alexnet
from lenet_jax.config import arguments

ARGS = alexnet.ARGS


def get_config(arg: str = ""):
  # ImageNet by default: the data torchvision's weights were trained on (1000 classes)
  args = arguments.parse(arg, ARGS, __file__)
  args.setdefault("data", "imagenet2012")
  config = alexnet.get_config(",".join(f"{k}={v}" if v is not True else k
                                       for k, v in args.items()))
  config.model.towers = 1
  config.model.maps = (64, 192, 384, 256, 256)
  config.model.norm = "none"
  config.model.conv1_padding = (2, 2)
  config.model.adaptive_pool = 6
  config.model.dropout_placement = "torchvision"
  config.model.init = "torchvision"
  config.model.dropout_scaling = "inverted"  # nn.Dropout
  config.momentum_form = "gradient"  # torch.optim.SGD: the rate outside the velocity
  config.data.crop = 224
  config.data.resize = 224
  config.data.synthetic_shape = (224, 224, 3)
  config.data.normalization = "mean_std"
  config.weight_decay = 1e-4
  if config.num_epochs == 90:  # ImageNet's schedule (a small dataset keeps configs/alexnet.py's)
    config.piecewise_epochs = (30, 60)
    config.piecewise_values = (0.001, 0.0001)
    config.batch_size = 256  # the recipe's 32 images on each of 8 GPUs
  return config

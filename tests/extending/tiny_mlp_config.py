"""The config of the family in tiny_mlp.py: configs/base.py's keys, the family's name, the
module that registers it, and the keys the family reads.

  python -m lenet_jax.main --config=tests/extending/tiny_mlp_config.py
"""

from configs import base


def get_config(arg: str = ""):
  del arg
  config = base.get_config()
  config.model.name = "tiny_mlp"
  config.model.module = "tests.extending.tiny_mlp"
  config.model.hidden = 32
  config.data.source = "embedded"
  config.num_epochs = 2
  config.batch_size = 100
  return config

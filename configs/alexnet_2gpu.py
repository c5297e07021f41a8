r"""AlexNet's two towers on two devices, as the paper split it over two GPUs.

  python -m lenet_jax.main --config=configs/alexnet_2gpu.py
  # on CPU, with fake devices:
  XLA_FLAGS=--xla_force_host_platform_device_count=2 \
      python -m lenet_jax.main --config=configs/alexnet_2gpu.py:data=synthetic

`--config.parallel.data=N` adds N-way data parallelism (2N devices);
`--config.parallel.backend=pmap` runs the same per-tower code with jax.pmap.
"""

from configs import alexnet

ARGS = alexnet.ARGS


def get_config(arg: str = ""):
  config = alexnet.get_config(arg)
  config.parallel.model = 2
  return config

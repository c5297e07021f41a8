"""FLOPs per training step of the benchmarked workloads, as `lenet_jax.benchmark`
reports them (flops_per_step: the traced step's convolutions and matrix
products), and the MFU they give at a measured step time.

  python experiments/benchmarks/flops.py
"""

import os
import sys

import jax
import jax.numpy as jnp

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
from configs import alexnet, lenet5  # noqa: E402
from lenet_jax.benchmarking import benchmark  # noqa: E402
from lenet_jax.runs import validation  # noqa: E402
from lenet_jax.models import task as task_lib  # noqa: E402
from lenet_jax.optim import optimizers  # noqa: E402
from lenet_jax.training import steps  # noqa: E402

H100_PEAK = benchmark.PEAK_FLOPS["NVIDIA H100 80GB HBM3"]
# (config, dtype, batch, step ms measured on one H100 by lenet_jax.benchmark, experiments/benchmarks)
MEASURED = [
    (lenet5.get_config(), "float32", 128, 0.3186),
    (lenet5.get_config(), "float32", 1024, 0.7942),
    (alexnet.get_config("data=synthetic"), "bfloat16", 128, 5.8107),
    (alexnet.get_config("data=synthetic"), "bfloat16", 256, 10.2420),
    (alexnet.get_config("data=synthetic"), "float32", 256, 13.9368),
]

for config, dtype, batch, step_ms in MEASURED:
  config.batch_size = batch
  if config.model.name == "alexnet":
    config.model.dtype = dtype
  resolved = validation.validate(config)
  spec = resolved.spec
  task = task_lib.Task(config, resolved)
  tx = optimizers.create(config, 10)
  state = task_lib.init_state(task, tx)
  chunk = steps.make_train_chunk(task, tx)
  images = jnp.zeros((batch,) + spec.image_shape, jnp.uint8)
  labels = jnp.zeros((batch,), jnp.int32)
  flops = benchmark._flops_per_step(chunk, state, images, labels, jnp.arange(batch)[None],
                                    jax.random.key(0))
  tflops = flops / (step_ms / 1e3) / 1e12
  print(f"{config.model.name} {dtype} batch {batch}: {flops / 1e9:.2f} GFLOP/step, "
        f"{tflops:.1f} TFLOP/s at {step_ms} ms, MFU {100 * tflops * 1e12 / H100_PEAK[dtype]:.1f}%")

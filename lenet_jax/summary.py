"""Per-layer table of a model: output shape, trainable parameters, connections, FLOPs.

  python -m lenet_jax.summary --config=configs/lenet5_1998.py

Connections are counted the paper's way (LeCun et al. 1998, section II.B): one
per multiply-add, a bias counting as one input; FLOPs count each multiply-add
as two operations (pooling: one per input, max or add).
"""

import jax
import jax.numpy as jnp
from absl import app, flags
from flax import nnx
from ml_collections import config_flags

from lenet_jax import cli, data, models
from lenet_jax.data import preprocess
from lenet_jax.logs import quiet_libraries
from lenet_jax.errors import exit_on_user_error


def rows(model, input_shape):
  """[(name, output shape, parameters, connections, flops)] per stage of `model`."""
  out = []
  shape = tuple(input_shape)
  for name, stage in model.stages():
    y = jax.eval_shape(stage, jax.ShapeDtypeStruct((1,) + shape, jnp.float32))
    out_shape = tuple(y.shape[1:])
    layer = getattr(stage, "layer", stage)  # AlexNet's stages wrap a layer
    params = sum(x.size for x in jax.tree.leaves(nnx.state(layer, nnx.Param)))
    connections = int(stage.connections(shape, out_shape))
    multiplies = params > 0 or name == "OUTPUT"
    flops = 2 * connections if multiplies else connections
    out.append((name, out_shape, params, connections, flops))
    shape = out_shape
  return out


def format_table(table, input_shape) -> str:
  header = f"{'layer':<8}{'output':>14}{'params':>12}{'connections':>14}{'FLOPs':>12}"
  lines = [header, "-" * len(header), f"{'input':<8}{'x'.join(map(str, input_shape)):>14}"]
  for name, shape, params, connections, flops in table:
    lines.append(f"{name:<8}{'x'.join(map(str, shape)):>14}{params:>12,}{connections:>14,}"
                 f"{flops:>12,}")
  lines.append("-" * len(header))
  totals = [sum(r[i] for r in table) for i in (2, 3, 4)]
  lines.append(f"{'total':<8}{'':>14}{totals[0]:>12,}{totals[1]:>14,}{totals[2]:>12,}")
  return "\n".join(lines)


def summarize(config) -> str:
  spec = data.validate(config.data)
  input_shape = preprocess.model_input_shape(spec, config.data)
  model = models.create(config.model, input_shape, spec.num_classes, config.seed)
  return format_table(rows(model, input_shape), input_shape)


@exit_on_user_error
def main(argv):
  quiet_libraries()
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
  print(summarize(flags.FLAGS.config))


if __name__ == "__main__":
  # Defined here, not at import, so that the training loop can import this module.
  config_flags.DEFINE_config_file("config", None, "Model config file.", lock_config=True)
  cli.run(main)

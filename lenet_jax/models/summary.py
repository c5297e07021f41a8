"""Per-layer table of a model (`python -m lenet_jax.summary`): output shape, trainable
parameters (weights and biases apart, as the papers count them), connections, FLOPs.

Connections are counted the paper's way (LeCun et al. 1998, section II.B): one
per multiply-add, a bias counting as one input; FLOPs count each multiply-add
as two operations (pooling: one per input, max or add).
"""

from typing import NamedTuple

import jax
import jax.numpy as jnp
from flax import nnx

from lenet_jax import models
from lenet_jax.models import abstract
from lenet_jax.config import validation


class Row(NamedTuple):
  name: str
  shape: tuple
  params: int
  connections: int
  flops: int
  weights: int  # params that are not biases (kernels, subsampling coefficients)
  biases: int


def rows(model, input_shape) -> list[Row]:
  """One `Row` per stage of `model`: output shape, parameters (weights and biases
  apart), connections and FLOPs. `model` may be built with nnx.eval_shape (shapes, no
  values): nothing here needs its values."""
  out = []
  shape = tuple(input_shape)
  for i, (name, stage) in enumerate(model.stages()):
    y = abstract.output_shape(model, lambda m, x, i=i: m.stages()[i][1](x),
                              jax.ShapeDtypeStruct((1,) + shape, jnp.float32))
    out_shape = tuple(y.shape[1:])
    layer = getattr(stage, "layer", stage)  # AlexNet's stages wrap a layer
    leaves = nnx.to_flat_state(nnx.state(layer, nnx.Param))
    biases = sum(v.size for path, v in leaves if path[-1] == "bias")
    params = sum(v.size for _, v in leaves)
    connections = int(stage.connections(shape, out_shape))
    multiplies = params > 0 or name == "OUTPUT"
    flops = 2 * connections if multiplies else connections
    out.append(Row(name, out_shape, params, connections, flops, params - biases, biases))
    shape = out_shape
  return out


COLUMNS = ("weights", "biases", "params", "connections", "flops")


def format_table(table, input_shape) -> str:
  """The table as text, each column as wide as its widest number."""
  total = {c: sum(getattr(r, c) for r in table) for c in COLUMNS}
  shapes = ["x".join(map(str, r.shape)) for r in table] + ["x".join(map(str, input_shape))]
  name_w = max(8, max(len(r.name) for r in table) + 2)
  shape_w = max(len("output"), max(map(len, shapes))) + 2
  widths = {c: max(len(c), len(f"{total[c]:,}")) + 2 for c in COLUMNS}
  titles = {"flops": "FLOPs"}
  header = f"{'layer':<{name_w}}{'output':>{shape_w}}" + "".join(
      f"{titles.get(c, c):>{widths[c]}}" for c in COLUMNS)
  lines = [header, "-" * len(header),
           f"{'input':<{name_w}}{'x'.join(map(str, input_shape)):>{shape_w}}"]
  for r, shape in zip(table, shapes):
    lines.append(f"{r.name:<{name_w}}{shape:>{shape_w}}" + "".join(
        f"{getattr(r, c):>{widths[c]},}" for c in COLUMNS))
  lines.append("-" * len(header))
  lines.append(f"{'total':<{name_w}}{'':>{shape_w}}" + "".join(
      f"{total[c]:>{widths[c]},}" for c in COLUMNS))
  return "\n".join(lines)


def summarize(config) -> str:
  """The table of `config`'s model for its dataset's input and classes."""
  resolved = validation.validate(config)
  model = nnx.eval_shape(lambda: models.create(config.model, resolved.knobs,
                                               resolved.input_shape,
                                               resolved.spec.num_classes, config.seed))
  return format_table(rows(model, resolved.input_shape), resolved.input_shape)

"""Per-layer table of a model (`python -m lenet_jax.summary`): output shape, trainable
parameters (weights and biases apart, as the papers count them), connections, FLOPs.

Connections are counted the paper's way (LeCun et al. 1998, section II.B): one
per multiply-add, a bias counting as one input; FLOPs count each multiply-add
as two operations (pooling: one per input, max or add).

A model with the paper's stages (`stages()`, the model contract in
`lenet_jax.models.registry`) gets one row per stage; any other Flax NNX module one row per
layer that holds parameters, in the order the model calls them, with its output shape
and parameters (connections and FLOPs are left blank: no stage says how it counts them).
"""

from typing import NamedTuple

import jax
import jax.numpy as jnp
from flax import nnx

from lenet_jax import models
from lenet_jax.models import abstract


class Row(NamedTuple):
  name: str
  shape: tuple
  params: int
  connections: int | None  # None: not counted (a layer of a model without stages)
  flops: int | None
  weights: int  # params that are not biases (kernels, subsampling coefficients)
  biases: int


def rows(model, input_shape) -> list[Row]:
  """The table's rows: one per paper stage of a model with `stages()`, else one per layer
  that holds parameters (`layer_rows`). `model` may be built with nnx.eval_shape (shapes,
  no values): nothing here needs its values."""
  if hasattr(model, "stages"):
    return stage_rows(model, input_shape)
  return layer_rows(model, input_shape)


def _own_params(module) -> dict:
  """{name: the Param} held by `module` itself, not by its submodules."""
  return {k: v for k, v in vars(module).items() if isinstance(v, nnx.Param)}


def layer_rows(model, input_shape) -> list[Row]:
  """One `Row` per module of `model` that holds parameters of its own, in the order the
  model calls them (found by running it on shapes, train=False), with its output shape:
  the table of any Flax NNX module."""
  graphdef, state = nnx.split(model)
  called = []  # (path, output shape), in call order

  def forward(state, x):
    merged = nnx.merge(graphdef, state)
    owners = {id(m): path for path, m in nnx.iter_modules(merged) if _own_params(m)}
    originals = {}
    for cls in {type(m) for _, m in nnx.iter_modules(merged) if id(m) in owners}:
      originals[cls] = cls.__call__

      def call(self, *args, _original=cls.__call__, **kwargs):
        out = _original(self, *args, **kwargs)
        path = owners.get(id(self))
        if path is not None and path not in dict(called) and hasattr(out, "shape"):
          called.append((path, tuple(out.shape[1:])))
        return out
      cls.__call__ = call
    try:
      return merged(x, train=False)
    finally:
      for cls, original in originals.items():
        cls.__call__ = original

  jax.eval_shape(forward, state, jax.ShapeDtypeStruct((1,) + tuple(input_shape), jnp.float32))
  modules = dict(nnx.iter_modules(model))
  out = []
  for path, shape in called:
    own = _own_params(modules[path])
    biases = sum(v.size for name, v in own.items() if name == "bias")
    params = sum(v.size for v in own.values())
    out.append(Row(".".join(map(str, path)) or "model", shape, params, None, None,
                   params - biases, biases))
  return out


def stage_rows(model, input_shape) -> list[Row]:
  """One `Row` per stage of `model` (`stages()`): output shape, parameters (weights and
  biases apart), connections and FLOPs."""
  out = []
  shape = tuple(input_shape)
  for i, (name, stage) in enumerate(model.stages()):
    y = abstract.output_shape(model, lambda m, x, i=i: m.stages()[i][1](x),
                              jax.ShapeDtypeStruct((1,) + shape, jnp.float32))
    out_shape = tuple(y.shape[1:])
    layers = getattr(stage, "layers", (stage,))  # AlexNet's stages wrap their layers
    leaves = [leaf for layer in layers for leaf in nnx.to_flat_state(nnx.state(layer, nnx.Param))]
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
  """The table as text, each column as wide as its widest number (blank where a row does
  not count it)."""
  total = {c: sum(getattr(r, c) or 0 for r in table) for c in COLUMNS}
  counted = {c: any(getattr(r, c) is not None for r in table) for c in COLUMNS}
  shapes = ["x".join(map(str, r.shape)) for r in table] + ["x".join(map(str, input_shape))]
  name_w = max(8, max(len(r.name) for r in table) + 2)
  shape_w = max(len("output"), max(map(len, shapes))) + 2
  widths = {c: max(len(c), len(f"{total[c]:,}")) + 2 for c in COLUMNS}
  titles = {"flops": "FLOPs"}
  header = f"{'layer':<{name_w}}{'output':>{shape_w}}" + "".join(
      f"{titles.get(c, c):>{widths[c]}}" for c in COLUMNS)
  lines = [header, "-" * len(header),
           f"{'input':<{name_w}}{'x'.join(map(str, input_shape)):>{shape_w}}"]
  def cell(value, c):
    return f"{'':>{widths[c]}}" if value is None else f"{value:>{widths[c]},}"

  for r, shape in zip(table, shapes):
    lines.append(f"{r.name:<{name_w}}{shape:>{shape_w}}" + "".join(
        cell(getattr(r, c), c) for c in COLUMNS))
  lines.append("-" * len(header))
  lines.append(f"{'total':<{name_w}}{'':>{shape_w}}" + "".join(
      cell(total[c] if counted[c] else None, c) for c in COLUMNS))
  return "\n".join(lines)


def summarize(config, resolved) -> str:
  """The table of `config`'s model for its dataset's input and classes (`resolved`: the
  config's validation), built from shapes only."""
  model = nnx.eval_shape(lambda: models.create(config.model, resolved.knobs,
                                               resolved.input_shape,
                                               resolved.spec.num_classes, config.seed))
  return format_table(rows(model, resolved.input_shape), resolved.input_shape)

"""Shapes of a module's outputs without its values, so that a module built with
nnx.eval_shape (parameter shapes only; nothing drawn) can be described."""

import jax
from flax import nnx


def output_shape(module, fn, *inputs):
  """jax.eval_shape of fn(module, *inputs), the module's values passed as arguments
  (a module whose values are jax.ShapeDtypeStructs will do); `inputs` are
  jax.ShapeDtypeStructs."""
  graphdef, state = nnx.split(module)
  return jax.eval_shape(lambda s, *xs: fn(nnx.merge(graphdef, s), *xs), state, *inputs)

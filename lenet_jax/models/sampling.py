"""Initial values drawn as one flat vector and reshaped: the same values, compiled sooner.

jax.random's threefry draws the same values for a shape as for its size, reshaped
(`tests/models/test_sampling.py` holds it to that), but on a CPU the program it compiles
for a 4-d kernel takes 2-3x as long to compile as the flat one (0.7-1.0 s against
0.3 s measured on a 2-core VM, jax 0.10.2). Each of a model's kernel shapes is one such
program, compiled when the model is built: drawn flat, a model starts sooner with
bitwise the same parameters.
"""

import math

import jax
import jax.numpy as jnp


def normal(key, shape, dtype=jnp.float32):
  """jax.random.normal(key, shape, dtype)."""
  return jax.random.normal(key, (math.prod(shape),), dtype).reshape(tuple(shape))


def uniform(key, shape, dtype=jnp.float32, minval=0.0, maxval=1.0):
  """jax.random.uniform(key, shape, dtype, minval, maxval)."""
  return jax.random.uniform(key, (math.prod(shape),), dtype, minval, maxval).reshape(
      tuple(shape))


def truncated_normal(key, lower, upper, shape, dtype=jnp.float32):
  """jax.random.truncated_normal(key, lower, upper, shape, dtype)."""
  flat = jax.random.truncated_normal(key, lower, upper, (math.prod(shape),), dtype)
  return flat.reshape(tuple(shape))


def lecun_normal():
  """nnx.initializers.lecun_normal(): a normal truncated at 2 std, with variance
  1 / fan_in (fan_in: the product of every axis but the last), the same arithmetic."""

  def init(key, shape, dtype=jnp.float32):
    shape = tuple(shape)
    fan_in = math.prod(shape) / shape[-1]
    variance = jnp.array(1.0 / fan_in, dtype=dtype)
    stddev = jnp.sqrt(variance) / jnp.array(.87962566103423978, dtype)
    return truncated_normal(key, -2, 2, shape, dtype) * stddev

  return init

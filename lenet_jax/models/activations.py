"""Activation functions selectable by name from a config."""

import jax
import jax.numpy as jnp


def scaled_tanh(x):
  """LeCun et al. 1998, appendix A: f(a) = A tanh(S a), A = 1.7159, S = 2/3."""
  return 1.7159 * jnp.tanh((2.0 / 3.0) * x)


ACTIVATIONS = {
    "relu": jax.nn.relu,
    "tanh": jnp.tanh,
    "scaled_tanh": scaled_tanh,
    "sigmoid": jax.nn.sigmoid,
    "gelu": jax.nn.gelu,
    "elu": jax.nn.elu,
    "leaky_relu": jax.nn.leaky_relu,
}
# Activations f with max_i f(z_i) = f(max_i z_i): max pooling may be taken before them.
NON_DECREASING = ("relu", "tanh", "scaled_tanh", "sigmoid", "elu", "leaky_relu")

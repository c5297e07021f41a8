"""Training criteria."""

import jax
import jax.numpy as jnp
import optax


def cross_entropy(logits, labels):
  """Mean softmax cross-entropy over the batch."""
  return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()


def map_loss(logits, labels, j: float):
  """The MAP criterion of LeCun et al. 1998, eq. 9, for RBF outputs.

    E = 1/P sum_p [ y_{D_p} + log( e^{-j} + sum_i e^{-y_i} ) ]

  with y_i the RBF penalties. `logits` are -y (as `RBF` returns them), so this is
  a cross-entropy against the classes plus one extra "rubbish" class whose
  penalty is the constant j: it pushes the wrong classes' penalties up instead
  of letting all penalties collapse to zero.
  """
  rubbish = jnp.full(logits.shape[:-1] + (1,), -j, logits.dtype)
  log_partition = jax.nn.logsumexp(jnp.concatenate([logits, rubbish], axis=-1), axis=-1)
  correct = jnp.take_along_axis(logits, labels[..., None], axis=-1)[..., 0]
  return (log_partition - correct).mean()


def map_criterion(j: float):
  """The MAP loss with constant `j`, as a function of (logits, labels)."""
  return lambda logits, labels: map_loss(logits, labels, j)

"""Stochastic diagonal Levenberg-Marquardt (LeCun et al. 1998, appendix C).

Each parameter w_k gets its own step size

    eta_k = eta / (mu + h_kk)

where h_kk estimates the k-th diagonal entry of the Gauss-Newton approximation
of the Hessian of the loss. The paper re-estimates h_kk from a few hundred
training patterns (500) before each pass and uses mu = 0.02.

Here the Gauss-Newton diagonal is computed exactly for the network's outputs:
for one sample with outputs z = f(w, x), G = J^T H J with J = dz/dw and
H = d^2 L / dz^2. Writing H = sum_c lambda_c u_c u_c^T (eigendecomposition of a
small matrix, C x C for C outputs), diag(G)_k = sum_c lambda_c (u_c^T J)_k^2:
one vector-Jacobian product per output unit, vmapped over samples.

`config.sdlm.curvature='paper'` uses the paper's own estimate instead
(`paper_diagonal`: second derivatives back-propagated with squared weights and
without cross terms, appendix C, eqs. 21-23); 'exact' (default) the above.

`sdlm(...)` is an optax `GradientTransformation` whose state carries the
curvature; the training loop computes it with `gauss_newton_diagonal` and puts
it in with `with_curvature` before each pass.
"""

from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax


class SDLMState(NamedTuple):
  count: jax.Array
  curvature: optax.Params  # h_kk per parameter, the Gauss-Newton diagonal estimate


def sdlm(learning_rate, mu: float = 0.02) -> optax.GradientTransformation:
  """w <- w - eta(t) / (mu + h) * g, with h from the state (see `with_curvature`)."""
  schedule = learning_rate if callable(learning_rate) else optax.constant_schedule(learning_rate)

  def init(params):
    return SDLMState(count=jnp.zeros((), jnp.int32),
                     curvature=jax.tree.map(jnp.zeros_like, params))

  def update(grads, state, params=None):
    del params
    eta = schedule(state.count)
    updates = jax.tree.map(lambda g, h: -eta * g / (mu + h), grads, state.curvature)
    return updates, SDLMState(count=state.count + 1, curvature=state.curvature)

  return optax.GradientTransformation(init, update)


def with_curvature(opt_state, curvature):
  """`opt_state` with every SDLMState's curvature replaced by `curvature`."""
  def replace(node):
    if isinstance(node, SDLMState):
      return node._replace(curvature=curvature)
    return node
  return jax.tree.map(replace, opt_state, is_leaf=lambda n: isinstance(n, SDLMState))


def gauss_newton_diagonal(apply_fn, loss_fn, params, inputs, labels, chunk: int = 50):
  """Mean over samples of diag(J^T H J), exactly.

  Args:
    apply_fn: (params, x [1, ...]) -> outputs [1, C].
    loss_fn: (outputs [1, C], labels [1]) -> scalar loss of one sample.
    params: the parameters to differentiate (any pytree).
    inputs, labels: the samples, leading axis N.
    chunk: samples vmapped at once (bounds memory: chunk x C x parameters).
  """

  def one(x, y):
    def outputs(p):
      return apply_fn(p, x[None])[0]

    z, vjp = jax.vjp(outputs, params)
    hessian = jax.hessian(lambda o: loss_fn(o[None], y[None]))(z)
    eigenvalues, eigenvectors = jnp.linalg.eigh(hessian)
    eigenvalues = jnp.clip(eigenvalues, 0.0)  # H is PSD for these losses; clip rounding
    rows = jax.vmap(lambda u: vjp(u)[0])(eigenvectors.T)  # u_c^T J for each c
    return jax.tree.map(lambda r: jnp.tensordot(eigenvalues, r * r, axes=1), rows)

  per_sample = jax.lax.map(lambda xy: one(*xy), (inputs, labels), batch_size=chunk)
  return jax.tree.map(lambda d: d.mean(0), per_sample)


def _slope(activation, a):
  """f'(a) of an elementwise activation (None: the identity)."""
  if activation is None:
    return jnp.ones_like(a)
  return jax.jvp(activation, (a,), (jnp.ones_like(a),))[1]


def paper_diagonal(stages_of, loss_fn, params, inputs, labels, chunk: int = 100):
  """The paper's estimate of the Gauss-Newton diagonal (appendix C, eqs. 21-23), the
  mean over samples.

  Second derivatives go backwards like gradients, with squares and without the
  cross terms: at the outputs z, d2E/dz^2 is the loss's Hessian diagonal; through a
  unit's activation, d2E/da^2 = f'(a)^2 d2E/dy^2 (eq. 22's Gauss-Newton form); through
  weighted sums a_i = sum_j w_ij x_j, d2E/dx_j^2 = sum_i w_ij^2 d2E/da_i^2; and a
  weight's h_kk sums d2E/da_i^2 x_j^2 over every connection (i, j) that shares it
  (eqs. 21 and 23). Each is one vector-Jacobian product of the stage's weighted sums:
  in the weights at squared inputs, in the inputs at squared weights.

  Args:
    stages_of: params -> the stages from the inputs to the outputs z the loss takes,
      each with `pre_activation(x)` (its weighted sums) and `activation` (None: none).
    loss_fn: (outputs [1, C], labels [1]) -> the scalar loss of one sample.
    params, inputs (already prepared), labels: as for `gauss_newton_diagonal`.
  """
  squared = jax.tree.map(jnp.square, params)
  n_stages = len(stages_of(params))

  def pre_activation(i, p, x):
    return stages_of(p)[i].pre_activation(x)

  def chunk_sum(x, y):
    inputs_of, sums = [], []
    for i, stage in enumerate(stages_of(params)):
      inputs_of.append(x)
      a = stage.pre_activation(x)
      sums.append(a)
      x = a if stage.activation is None else stage.activation(a)
    top = jax.vmap(lambda z, t: jnp.diag(jax.hessian(
        lambda o: loss_fn(o[None], t[None]))(z)))(x.reshape(x.shape[0], -1), y)
    d2_y = top.reshape(x.shape)
    total = jax.tree.map(jnp.zeros_like, params)
    for i in reversed(range(n_stages)):
      activation = stages_of(params)[i].activation
      d2_a = _slope(activation, sums[i]) ** 2 * d2_y
      x_in = inputs_of[i]
      _, vjp_w = jax.vjp(lambda p: pre_activation(i, p, jnp.square(x_in)), params)
      total = jax.tree.map(jnp.add, total, vjp_w(d2_a)[0])
      if i:
        _, vjp_x = jax.vjp(lambda v: pre_activation(i, squared, v), x_in)
        d2_y = vjp_x(d2_a)[0]
    return total

  n = inputs.shape[0]
  total = jax.tree.map(jnp.zeros_like, params)
  for start in range(0, n, chunk):
    part = chunk_sum(inputs[start:start + chunk], labels[start:start + chunk])
    total = jax.tree.map(jnp.add, total, part)
  return jax.tree.map(lambda t: t / n, total)

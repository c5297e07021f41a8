import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from conftest import SMALL_ALEXNET, alexnet_model, assert_same_values_and_gradients, jitted
from lenet_jax.models import sampling, summary
from lenet_jax.models.lrn import lrn
from lenet_jax.runs import validation

PAPER_WEIGHTS = [34_848, 307_200, 884_736, 663_552, 442_368, 37_748_736, 16_777_216, 4_096_000]


def n_params(module):
  return sum(x.size for x in jax.tree.leaves(nnx.state(module, nnx.Param)))


def shapes_only(**kw):
  """The network built abstractly (parameter shapes, no values): counts need no init."""
  return nnx.eval_shape(lambda: alexnet_model(rngs=nnx.Rngs(0), **kw))


@pytest.fixture(scope="module")
def alexnet2():
  return alexnet_model(towers=2, rngs=nnx.Rngs(0))


def test_parameter_counts():
  alexnet2 = shapes_only(towers=2)
  assert n_params(alexnet2) == 60_965_224
  weights = [getattr(alexnet2, n).kernel.size
             for n in ("conv1", "conv2", "conv3", "conv4", "conv5", "fc6", "fc7", "fc8")]
  assert weights == PAPER_WEIGHTS
  assert n_params(shapes_only(towers=1)) == 62_378_344


@pytest.mark.full_xla
def test_shapes(alexnet2):
  shapes = [r[1] for r in summary.rows(alexnet2, (227, 227, 3))]
  assert shapes == [(27, 27, 96), (13, 13, 256), (13, 13, 384), (13, 13, 384), (6, 6, 256),
                    (4096,), (4096,), (1000,)]
  out = jax.eval_shape(lambda x: alexnet2(x), jax.ShapeDtypeStruct((2, 227, 227, 3), jnp.float32))
  assert out.shape == (2, 1000) and out.dtype == jnp.float32


@pytest.mark.full_xla
def test_paper_init(alexnet2):
  assert abs(float(jnp.std(alexnet2.fc7.kernel[...])) - 0.01) < 1e-4
  for name, bias in (("conv1", 0), ("conv2", 1), ("conv3", 0), ("conv4", 1), ("conv5", 1),
                     ("fc6", 1), ("fc7", 1), ("fc8", 0)):
    assert np.all(np.asarray(getattr(alexnet2, name).bias[...]) == bias), name


def test_lrn_hand_computed():
  a = jnp.arange(1.0, 7.0).reshape(1, 1, 1, 6)  # one pixel, 6 maps
  # map 0: window maps 0..2 (n=5 clipped at the edge): 1 + 4 + 9 = 14
  want0 = 1.0 / (2 + 1e-4 * 14) ** 0.75
  # map 3 (of 6): window maps 1..5: 4 + 9 + 16 + 25 + 36 = 90
  want3 = 4.0 / (2 + 1e-4 * 90) ** 0.75
  got = lrn(a)
  np.testing.assert_allclose(got[0, 0, 0, 0], want0, rtol=1e-6)
  np.testing.assert_allclose(got[0, 0, 0, 3], want3, rtol=1e-6)
  # With two groups of 3, map 3's window is maps 3..5 only: 16 + 25 + 36 = 77.
  np.testing.assert_allclose(lrn(a, groups=2)[0, 0, 0, 3], 4.0 / (2 + 1e-4 * 77) ** 0.75,
                             rtol=1e-6)


def test_grouped_conv_formulations_agree():
  x = sampling.normal(jax.random.key(1), (2, 67, 67, 3))
  split = alexnet_model(**SMALL_ALEXNET, rngs=nnx.Rngs(0))
  grouped = alexnet_model(**SMALL_ALEXNET, grouped_conv="feature_group", rngs=nnx.Rngs(0))
  np.testing.assert_allclose(jitted(split)(x), jitted(grouped)(x), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("towers", [1, 2])
def test_channel_padding_changes_no_value_or_gradient(towers):
  x = sampling.normal(jax.random.key(1), (2, 67, 67, 3))
  plain = alexnet_model(**SMALL_ALEXNET, towers=towers, rngs=nnx.Rngs(0))
  padded = alexnet_model(**SMALL_ALEXNET, towers=towers, channel_multiple=8, rngs=nnx.Rngs(0))
  assert padded.conv1.kernel.shape == plain.conv1.kernel.shape  # the padding is not a parameter
  assert n_params(padded) == n_params(plain)
  assert_same_values_and_gradients(padded, plain, x)


def test_towers_see_only_their_own_maps():
  model = alexnet_model(**SMALL_ALEXNET, rngs=nnx.Rngs(0))
  x = sampling.normal(jax.random.key(1), (1, 7, 7, 384))
  base = model.conv4(x)
  poked = model.conv4(x.at[..., :192].add(1.0))  # change tower 0's input maps only
  np.testing.assert_array_equal(base[..., 192:], poked[..., 192:])
  assert not np.allclose(base[..., :192], poked[..., :192])


def test_bfloat16_compute_keeps_float32_params():
  model = alexnet_model(**SMALL_ALEXNET, dtype=jnp.bfloat16, rngs=nnx.Rngs(0))
  assert model.conv1.kernel[...].dtype == jnp.float32
  out = jitted(model)(jnp.ones((1, 67, 67, 3)))
  assert out.dtype == jnp.float32 and bool(jnp.all(jnp.isfinite(out)))


@pytest.mark.full_xla
def test_summary_of_the_1000_class_config():
  from configs import alexnet
  config = alexnet.get_config("data=synthetic")
  text = summary.summarize(config, validation.validate(config))
  assert "60,965,224" in text and "4,097,000" in text


@pytest.mark.parametrize("placement", ["paper", "torchvision"])
def test_dropout_placement(placement):
  """'paper' drops fc6's and fc7's outputs (section 4.2; Caffe's bvlc_alexnet);
  'torchvision' drops their inputs: each checked against the layers applied by hand."""
  from lenet_jax.models.alexnet import _dropout
  x = sampling.normal(jax.random.key(1), (4, 67, 67, 3))
  model = alexnet_model(**SMALL_ALEXNET, dropout_placement=placement, rngs=nnx.Rngs(0),
                        dropout_scaling="inverted")
  key = jax.random.key(3)
  k6, k7 = jax.random.split(key, 2)
  h = x
  for _, stage in model.stages()[:5]:
    h = stage(h)
  h = h.reshape(h.shape[0], -1)
  drop = lambda y, k: _dropout(y, k, True, rate=0.5, scaling="inverted")  # noqa: E731
  relu = jax.nn.relu
  if placement == "paper":
    expected = model.fc8(drop(relu(model.fc7(drop(relu(model.fc6(h)), k6))), k7))
  else:
    expected = model.fc8(relu(model.fc7(drop(relu(model.fc6(drop(h, k6))), k7))))
  run = jitted(model)
  dropped = run(x, train=True, rngs=key)
  np.testing.assert_allclose(dropped, expected, rtol=1e-5, atol=1e-6)
  assert not np.allclose(dropped, run(x))  # dropout was on


@pytest.mark.full_xla
def test_caffe_init_is_bvlc_alexnets_fillers():
  model = alexnet_model(input_shape=(67, 67, 3), num_classes=10, init="caffe", rngs=nnx.Rngs(0))
  stds = {n: float(jnp.std(getattr(model, n).kernel[...])) for n in ("conv1", "fc6", "fc7")}
  assert abs(stds["conv1"] - 0.01) < 1e-3 and abs(stds["fc7"] - 0.005) < 1e-4
  assert abs(stds["fc6"] - 0.005) < 3e-4
  biases = {n: [round(float(b), 6) for b in np.unique(np.asarray(getattr(model, n).bias[...]))]
            for n in ("conv1", "conv2", "conv3", "conv4", "conv5", "fc6", "fc7", "fc8")}
  assert biases == {"conv1": [0.0], "conv2": [0.1], "conv3": [0.0], "conv4": [0.1],
                    "conv5": [0.1], "fc6": [0.1], "fc7": [0.1], "fc8": [0.0]}


@pytest.mark.parametrize("knobs,params", [
    ({}, 60_965_224),
    ({"norm": "none"}, 60_965_224),  # LRN has no parameters
    ({"norm": "batchnorm"}, 60_965_224 + 2 * (96 + 256)),  # scale and bias, conv1 and conv2
    ({"pooling": "nonoverlapping"}, 60_965_224),  # the same output sizes
    ({"activation": "tanh", "dropout": 0.0}, 60_965_224),
    # Section 3.2's one-GPU net: half the kernels in conv1-conv4, conv5 and FC full.
    ({"towers": 1, "width": 0.5}, 59_798_312),
])
def test_parameter_counts_follow_the_knobs(knobs, params):
  assert n_params(shapes_only(**knobs)) == params


def test_one_gpu_half_width_net_has_the_papers_layer_sizes():
  model = shapes_only(towers=1, width=0.5)
  shapes = [r.shape for r in summary.rows(model, (227, 227, 3))]
  assert shapes[:5] == [(27, 27, 48), (13, 13, 128), (13, 13, 192), (13, 13, 192), (6, 6, 256)]
  assert [r.shape for r in summary.rows(shapes_only(pooling="nonoverlapping"),
                                        (227, 227, 3))] == [r.shape for r in summary.rows(
                                            shapes_only(), (227, 227, 3))]


def test_lrn_none_is_the_paper_net_with_lrn_removed(monkeypatch):
  x = sampling.normal(jax.random.key(1), (2, 67, 67, 3))
  without = alexnet_model(**SMALL_ALEXNET, norm="none", rngs=nnx.Rngs(0))
  import lenet_jax.models.alexnet as alexnet_module
  monkeypatch.setattr(alexnet_module, "lrn", lambda y, **kw: y)
  paper_without_lrn = alexnet_model(**SMALL_ALEXNET, rngs=nnx.Rngs(0))
  np.testing.assert_array_equal(without(x), paper_without_lrn(x))
  monkeypatch.undo()
  assert not np.allclose(without(x), alexnet_model(**SMALL_ALEXNET, rngs=nnx.Rngs(0))(x))


def test_activation_and_dropout_rate_are_used():
  x = sampling.normal(jax.random.key(1), (2, 67, 67, 3))
  assert not np.allclose(alexnet_model(activation="tanh", rngs=nnx.Rngs(0), **SMALL_ALEXNET)(x),
                         alexnet_model(rngs=nnx.Rngs(0), **SMALL_ALEXNET)(x))
  no_dropout = alexnet_model(dropout=0.0, rngs=nnx.Rngs(0), **SMALL_ALEXNET)
  np.testing.assert_array_equal(no_dropout(x, train=True, rngs=jax.random.key(3)), no_dropout(x))


@pytest.mark.parametrize("classes", [3, 37])
def test_a_class_count_the_towers_do_not_divide(classes):
  # fc8 gets ceil(classes / 2) units a tower; the padded unit's output is dropped before
  # the softmax: the logits have the classes, the padded weights get no gradient.
  model = alexnet_model(**dict(SMALL_ALEXNET, num_classes=classes), towers=2, rngs=nnx.Rngs(0))
  units = classes + 1
  fc = SMALL_ALEXNET["fc_units"]
  assert model.fc8.kernel.shape == (2, fc, units // 2)
  assert n_params(model.fc8) == (fc + 1) * units  # one unit more than the classes
  x = sampling.normal(jax.random.key(1), (2, 67, 67, 3))
  assert jitted(model)(x).shape == (2, classes)
  grads = nnx.jit(nnx.grad(lambda m: jnp.sum(m(x) ** 2)))(model)  # one program
  padded = np.asarray(grads.fc8.kernel[...])[1, :, -1]  # tower 2's last unit: the padding
  assert np.all(padded == 0) and np.any(np.asarray(grads.fc8.kernel[...])[0] != 0)
  assert [r.shape for r in summary.rows(model, (67, 67, 3))][-1] == (classes,)

"""The optimizer's per-parameter multipliers (the 2012 AlexNet code's epsB and wc, Caffe's
lr_mult and decay_mult) and SGD's two momentum forms, step by step against the update rules
written out."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import tiny_config
from lenet_jax.common.errors import ConfigError
from lenet_jax.common import trees
from lenet_jax.optim import optimizers
from lenet_jax.runs import validation


def _params():
  return {"conv1": {"kernel": jnp.full((2, 2), 3.0), "bias": jnp.full((2,), 5.0)},
          "fc8": {"kernel": jnp.full((3,), 7.0), "bias": jnp.full((1,), 11.0)}}


def _updates(config, steps=1, grads_of=lambda k: 1.0):
  tx = optimizers.create(config, steps_per_epoch=10)
  params = _params()
  state = tx.init(params)
  out = []
  for k in range(steps):
    grads = jax.tree.map(lambda p: jnp.full_like(p, grads_of(k)), params)
    updates, state = tx.update(grads, state, params)
    out.append({trees.path_name(path): float(np.asarray(u).ravel()[0])
                for path, u in jax.tree_util.tree_flatten_with_path(updates)[0]})
  return out


def test_biases_at_twice_the_rate_and_without_weight_decay():
  config = tiny_config(optimizer="sgd", learning_rate=0.1, momentum=0.0, weight_decay=0.01,
                       lr_multipliers=(("*.bias", 2.0),),
                       weight_decay_multipliers=(("*.bias", 0.0),))
  validation.validate(config)
  (step,) = _updates(config)
  # kernel: -lr (g + decay w); bias: -2 lr g
  assert step["conv1.kernel"] == pytest.approx(-0.1 * (1 + 0.01 * 3.0))
  assert step["fc8.kernel"] == pytest.approx(-0.1 * (1 + 0.01 * 7.0))
  assert step["conv1.bias"] == pytest.approx(-0.2)
  assert step["fc8.bias"] == pytest.approx(-0.2)
  # the first matching pattern wins; a layer of its own
  config.lr_multipliers = (("conv1.*", 0.0), ("*.bias", 2.0))
  (step,) = _updates(config)
  assert step["conv1.bias"] == 0 and step["conv1.kernel"] == 0  # frozen (the code's conv1)
  assert step["fc8.bias"] == pytest.approx(-0.2)


def test_the_paper_s_momentum_keeps_the_old_rate_in_the_velocity():
  # A rate dropped by 10 after the first step: optax's form scales the whole velocity by
  # the new rate at once; the paper's carries the first step's rate-scaled velocity on.
  base = dict(optimizer="sgd", momentum=0.9, weight_decay=0.0, schedule="piecewise",
              learning_rate=0.1, piecewise_epochs=(0.1,), piecewise_values=(0.01,))
  paper = _updates(tiny_config(momentum_form="step", **base), steps=2)
  optax_form = _updates(tiny_config(momentum_form="gradient", **base), steps=2)
  key = "conv1.kernel"
  assert paper[0][key] == pytest.approx(optax_form[0][key]) == pytest.approx(-0.1)
  assert paper[1][key] == pytest.approx(0.9 * -0.1 + -0.01)  # v = 0.9 v - lr_new g
  assert optax_form[1][key] == pytest.approx(-0.01 * (0.9 * 1 + 1))  # -lr_new (0.9 v' + g)


def test_the_paper_s_momentum_puts_weight_decay_inside_the_velocity():
  # The rate divided by 10 after the first step, with weight decay: the paper's velocity
  # keeps the first step's eps (decay w + grad); optax's form rescales the whole sum.
  base = dict(optimizer="sgd", momentum=0.9, weight_decay=0.0005, learning_rate=0.01,
              schedule="piecewise", piecewise_epochs=(0.1,), piecewise_values=(0.001,))
  paper = _updates(tiny_config(momentum_form="step", **base), steps=2)
  optax_form = _updates(tiny_config(momentum_form="gradient", **base), steps=2)
  g = 1 + 0.0005 * 3.0  # decay w + grad, w still 3 (the updates are not applied)
  v1 = -0.01 * g  # v <- 0.9 v - eps (0.0005 w + grad)
  assert paper[0]["conv1.kernel"] == pytest.approx(v1, rel=1e-6)
  assert paper[1]["conv1.kernel"] == pytest.approx(0.9 * v1 - 0.001 * g, rel=1e-6)
  assert optax_form[1]["conv1.kernel"] == pytest.approx(-0.001 * (0.9 * g + g), rel=1e-6)


def test_the_2012_code_s_multipliers_reach_every_bias_of_alexnet():
  from flax import nnx

  from configs import alexnet_2012_code
  from conftest import SMALL_ALEXNET, alexnet_model
  config = alexnet_2012_code.get_config("data=synthetic")
  config.schedule, config.learning_rate = "constant", 0.01
  params = nnx.to_pure_dict(nnx.state(alexnet_model(**SMALL_ALEXNET), nnx.Param))
  tx = optimizers.create(config, steps_per_epoch=10)
  updates, _ = tx.update(jax.tree.map(jnp.ones_like, params), tx.init(params), params)
  names = {}
  for path, u in jax.tree_util.tree_flatten_with_path(updates)[0]:
    names[trees.path_name(path)] = u
  leaves = dict(jax.tree_util.tree_flatten_with_path(params)[0])
  biases = [n for n in names if n.endswith(".bias")]
  assert len(biases) == 8 and "fc8.bias" in biases  # conv1-5, fc6-8
  for path, w in leaves.items():
    name, u = trees.path_name(path), names[trees.path_name(path)]
    if name.endswith(".bias"):  # twice the rate, no weight decay
      np.testing.assert_allclose(u, -2 * 0.01, rtol=1e-6, err_msg=name)
    else:
      np.testing.assert_allclose(u, -0.01 * (1 + 5e-4 * w), rtol=1e-5, err_msg=name)


@pytest.mark.parametrize("key,value,match", [
    ("lr_multipliers", (("*.bias", -1.0),), "a number >= 0"),
    ("weight_decay_multipliers", ("*.bias",), "pattern, multiplier"),
    ("momentum_form", "nesterov", "choose one of gradient, step"),
])
def test_bad_multipliers_and_forms_are_one_line(key, value, match):
  with pytest.raises(ConfigError, match=match):
    validation.validate(tiny_config(optimizer="sgd", **{key: value}))
  validation.validate(tiny_config(momentum_form="step"))  # adamw: SGD's form, ignored


@pytest.mark.parametrize("optimizer", ["adamw", "adam"])
def test_momentum_form_leaves_other_optimizers_as_they_are(optimizer):
  schedule = {"optimizer": optimizer, "learning_rate": 0.1, "schedule": "piecewise",
              "piecewise_epochs": (0.2,), "piecewise_values": (0.1,)}
  ramp = lambda k: 1.0 + k  # noqa: E731  (gradients that change, so states matter)
  step = _updates(tiny_config(momentum_form="step", **schedule), steps=4, grads_of=ramp)
  gradient = _updates(tiny_config(momentum_form="gradient", **schedule), steps=4, grads_of=ramp)
  assert step == gradient

"""Every config key with an invalid value: one ConfigError naming the key, value and choices.

A value of the wrong type (a string for batch_size, say) never reaches these
checks: ml_collections refuses it when the flag is parsed (tests/common/test_cli.py).
"""

import glob
import os
import re

import pytest

from conftest import ROOT, tiny_config
from lenet_jax.common.errors import ConfigError, UserError
from lenet_jax.runs import validation

CASES = [
    ("seed", -1, "integer >= 0"),
    ("num_epochs", 0, "integer >= 1"),
    ("batch_size", -8, "integer >= 1"),
    ("eval_batch_size", 0, "integer >= 1"),
    ("steps_per_scan", -1, "integer >= 0"),
    ("checkpoint_keep", 0, "integer >= 1"),
    ("checkpoint_secs", -1.0, "seconds >= 0"),
    ("progress_secs", -5.0, "seconds >= 0"),
    ("optimizer", "lbfgs", "sgd, adam, adamw, sdlm"),
    ("learning_rate", 0.0, "positive number"),
    ("momentum", 1.0, "[0, 1)"),
    ("weight_decay", -1e-4, ">= 0"),
    ("schedule", "exponential", "constant, cosine, piecewise"),
    ("warmup_epochs", -1.0, ">= 0"),
    ("distortions.translate", -1.0, ">= 0"),
    ("distortions.scale", 1.5, "< 1"),
    ("distortions.squeeze", -0.1, ">= 0"),
    ("distortions.shear", -0.2, ">= 0"),
    ("model.name", "resnet", "alexnet, lenet1, lenet4, lenet5"),
    ("model.activation", "swish", "relu, tanh, scaled_tanh"),
    ("model.pooling", "lp", "max, avg, subsample"),
    ("model.c3", "dense", "full, table"),
    ("model.output", "softmax", "dense, rbf"),
    ("model.init", "xavier", "default, paper"),
    ("model.implementation", "cudnn", "auto, xla, matmul"),
    ("model.map_j", float("nan"), "finite number"),
    ("data.name", "svhn", "mnist, fashion_mnist, kmnist, cifar10, synthetic"),
    ("data.source", "s3", "auto, embedded, folder, idx, prepared, synthetic, tfds"),
    ("data.normalization", "minmax", "mean_std, paper"),
]


@pytest.mark.parametrize("key,value,choices", CASES, ids=[c[0] for c in CASES])
def test_invalid_value(key, value, choices):
  config = tiny_config(**{key: value})
  with pytest.raises(ConfigError) as info:
    validation.validate(config)
  message = str(info.value)
  assert message.startswith(f"config.{key}={value!r} is invalid"), message
  assert choices in message, message
  assert "\n" not in message


def test_sdlm_keys():
  for key, value in (("sdlm.samples", 0), ("sdlm.period_epochs", 0), ("sdlm.mu", 0.0)):
    config = tiny_config(optimizer="sdlm", **{key: value})
    with pytest.raises(ConfigError, match=f"config.{key}="):
      validation.validate(config)


def test_piecewise_needs_matching_values():
  config = tiny_config(schedule="piecewise", piecewise_epochs=(2, 5), piecewise_values=(0.1,))
  with pytest.raises(ConfigError, match="config.piecewise_epochs"):
    validation.validate(config)


def test_alexnet_keys():
  from configs import alexnet
  for key, value, fragment in (("model.towers", 3, "1, 2"), ("model.dtype", "float16",
                               "float32, bfloat16"), ("model.grouped_conv", "depthwise",
                               "split, feature_group"), ("model.init", "paper2", "paper, caffe, he"),
                               ("model.channel_multiple", -8, "integer >= 1, or 0 for auto"),
                               ("data.resize", 16, "integer >= 32"),
                               ("model.activation", "swish", "relu, tanh"),
                               ("model.lrn", "caffe2", "paper, cuda_convnet, caffe"),
                               ("model.norm", "layer", "lrn, batchnorm, none"),
                               ("model.pooling", "max", "overlapping, nonoverlapping"),
                               ("model.dropout", 1.0, "rate in"), ("model.width", 0, "positive"),
                               ("model.conv1", "fft", "auto, strided, space_to_depth"),
                               ("model.pool_gradient", "x", "select_and_scatter, first_max"),
                               ("model.lrn_dtype", "f16", "auto, float32, compute"),
                               ("model.dropout_placement", "keras", "paper, torchvision"),
                               ("data.normalization", "z", "subtract_mean")):
    config = alexnet.get_config("data=synthetic")
    section, leaf = key.split(".")
    config[section][leaf] = value
    with pytest.raises(ConfigError, match=fragment):
      validation.validate(config)
  config = alexnet.get_config("data=synthetic")
  config.model.conv1_norm_input, config.model.activation = "linear", "gelu"  # not monotone
  with pytest.raises(ConfigError, match="activation after pool1"):
    validation.validate(config)


def test_every_error_is_a_user_error():
  assert issubclass(ConfigError, UserError)


def test_validation_resolves_what_the_rest_takes():
  resolved = validation.validate(tiny_config(**{"distortions.enabled": True}))
  assert resolved.spec.name == "mnist" and resolved.input_shape == (32, 32, 1)
  assert resolved.knobs == {"implementation": "matmul"}  # 'auto' on a CPU
  assert (resolved.steps_per_scan, resolved.distortions, resolved.pad_to) == (20, "online", 32)
  assert resolved.resize is None and resolved.mesh == (1, 1) and not resolved.ten_crop
  from configs import alexnet
  resolved = validation.validate(alexnet.get_config("data=synthetic"))
  assert resolved.input_shape == (227, 227, 3) and resolved.resize == (227, 3)
  assert resolved.knobs == {"channel_multiple": 1, "conv1": "strided", "lrn_dtype": "float32"}
  assert resolved.distortions is None and resolved.steps_per_scan == 1


def test_a_family_s_config_holds_only_the_sections_that_act_on_it():
  from configs import alexnet, lenet1, lenet4
  config = alexnet.get_config()
  for absent in ("sdlm", "distortions"):
    assert absent not in config
  for absent in ("pad_to", "digit_size"):
    assert absent not in config.data
  assert "output" not in lenet1.get_config().model and "c3" not in lenet4.get_config().model
  for section in ("eval", "parallel"):
    assert section not in tiny_config()
  assert "crop" not in tiny_config().data
  # and asking for what a family does not have says so in one line
  config.optimizer = "sdlm"
  with pytest.raises(ConfigError, match="config.optimizer='sdlm'.*no sdlm section"):
    validation.validate(config)
  with pytest.raises(ConfigError, match="streaming keys of configs/alexnet.py"):
    validation.validate(tiny_config(**{"data.name": "imagenette"}))


def test_the_library_supplies_no_defaults_of_its_own():
  # Every key code reads comes from the config files: no `config.get(key, default)`.
  found = []
  for path in glob.glob(os.path.join(ROOT, "lenet_jax", "**", "*.py"), recursive=True):
    with open(path) as f:
      for number, line in enumerate(f, 1):
        if re.search(r"\b(config|data_config|model_config|parallel|distort\w*)"
                     r"(\.\w+)*\.get\(", line):
          found.append(f"{os.path.relpath(path, ROOT)}:{number}: {line.strip()}")
  assert not found, found

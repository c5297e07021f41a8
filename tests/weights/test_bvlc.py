"""Caffe's bvlc_alexnet weights: imported logits equal a Caffe-layout reference
forward pass, each layout trap caught on its own, and fine-tuning with a new fc8."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import assert_bitwise_equal, override
from lenet_jax.common.errors import UserError
from lenet_jax.runs import validation
from lenet_jax.models import task as task_lib
from lenet_jax.runs import load, run_record
from lenet_jax.runs import predict as inference
from lenet_jax.training import train
from lenet_jax.weights import bvlc, init_from
from lenet_jax.weights import import_weights as pretrained

MEAN_BGR = np.array([104.0, 117.0, 123.0], np.float32)


def random_bvlc(seed=0, classes=1000):
  """bvlc_alexnet-shaped weights, scaled so activations neither vanish nor explode."""
  rng = np.random.default_rng(seed)
  weights = {}
  for name, shape in bvlc.SHAPES.items():
    shape = tuple(classes if s is None else s for s in shape)
    fan_in = int(np.prod(shape[:-1]))
    weights[name] = (rng.standard_normal(shape, np.float32) * np.float32((2.0 / fan_in) ** 0.5),
                     rng.standard_normal(shape[-1], np.float32) * np.float32(0.1))
  return weights


def caffe_forward(weights, images):
  """Caffe's bvlc_alexnet (deploy.prototxt) on uint8 RGB images [N, 227, 227, 3], from the
  weights in Caffe's layout: BGR less the mean, groups of 2 in conv2/4/5, LRN over all
  channels with k=1 and alpha/5, fc6 reading pool5 flattened as (C, H, W)."""
  x = jnp.asarray(images[..., ::-1], jnp.float32) - MEAN_BGR.reshape(1, 1, 1, 3)

  def conv(x, name, stride, pad, groups):
    w, b = weights[name]
    return jax.lax.conv_general_dilated(x, w, (stride, stride), [(pad, pad)] * 2,
                                        dimension_numbers=("NHWC", "HWIO", "NHWC"),
                                        feature_group_count=groups) + b.reshape(1, 1, 1, -1)

  def lrn(x):
    sq = jnp.pad(jnp.square(x), ((0, 0), (0, 0), (0, 0), (2, 2)))
    window = sum(sq[..., i:i + x.shape[-1]] for i in range(5))
    return x / (1.0 + 1e-4 / 5 * window) ** 0.75

  def pool(x):
    return jax.lax.reduce_window(x, -jnp.inf, jax.lax.max, (1, 3, 3, 1), (1, 2, 2, 1), "VALID")

  relu = jax.nn.relu
  x = pool(lrn(relu(conv(x, "conv1", 4, 0, 1))))
  x = pool(lrn(relu(conv(x, "conv2", 1, 2, 2))))
  x = relu(conv(x, "conv3", 1, 1, 1))
  x = relu(conv(x, "conv4", 1, 1, 2))
  x = pool(relu(conv(x, "conv5", 1, 1, 2)))
  x = x.transpose(0, 3, 1, 2).reshape(x.shape[0], -1)  # Caffe's blob order
  for name in ("fc6", "fc7"):
    x = relu(x @ weights[name][0] + weights[name][1][None])
  return x @ weights["fc8"][0] + weights["fc8"][1][None]


@pytest.fixture(scope="module")
def imported(tmp_path_factory):
  directory = tmp_path_factory.mktemp("bvlc")
  weights = random_bvlc()
  bvlc.save(str(directory / "bvlc_alexnet.npy"), weights)
  images = np.random.default_rng(1).integers(0, 256, (2, 227, 227, 3), np.uint8)
  expected = np.asarray(caffe_forward(weights, images))
  return directory, weights, images, expected


def _logits(workdir, images, **changes):
  config = run_record.load_config(str(workdir))
  config = override(config, **changes)
  _, state, task = load.load_state(config, str(workdir))
  return np.asarray(task.logits(task.variables(state), jnp.asarray(images)))


def _import(directory, name):
  from configs import alexnet
  config = alexnet.get_config("data=imagenet2012")
  pretrained.import_bvlc(config, str(directory / "bvlc_alexnet.npy"), str(directory / name))
  return directory / name


def test_imported_logits_equal_caffe_s_network(imported):
  directory, _, images, expected = imported
  run = _import(directory, "run")
  got = _logits(run, images)
  scale = np.abs(expected).max()
  assert scale > 1.0 and np.std(expected) > 0.1  # a network whose outputs carry signal
  np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4 * scale)
  config = json.loads((run / "config.json").read_text())
  assert config["imported_from"]["sha256"] == bvlc.sha256(str(directory / "bvlc_alexnet.npy"))
  assert (config["model"]["lrn"], config["data"]["channel_order"]) == ("caffe", "bgr")
  assert config["data"]["pixel_mean"] == [104.0, 117.0, 123.0]


def test_round_trip_of_the_layout():
  weights = random_bvlc(seed=2, classes=10)
  back = bvlc.from_params(bvlc.to_params(weights))
  for name in bvlc.LAYERS:
    assert_bitwise_equal(back[name][0], weights[name][0])
    assert_bitwise_equal(back[name][1], weights[name][1])


def _logits_without_a_run(weights, images, **changes):
  """Logits of the weights put into the model in memory (no run directory), with Caffe's
  conventions and then `changes`."""
  from configs import alexnet
  config = override(bvlc.caffe_conventions(alexnet.get_config("data=imagenet2012")),
                    **changes)
  task = task_lib.Task(config, validation.validate(config), draw_params=False)
  params = pretrained._with_arrays(task.params, bvlc.to_params(weights))
  return np.asarray(task.logits({"params": params}, jnp.asarray(images)))


@pytest.mark.parametrize("trap", ["none", "groups_swapped", "fc6_in_caffe_order", "lrn_paper",
                                  "rgb", "mean_in_rgb_order", "normalised"])
def test_each_layout_trap_moves_the_logits(imported, monkeypatch, trap):
  """Each convention, done wrong on its own, moves the logits far beyond the tolerance
  the equality test uses; done right ('none'), they are within it."""
  _, weights, images, expected = imported
  changes = {}
  if trap == "groups_swapped":
    real = bvlc._split_out
    monkeypatch.setattr(bvlc, "_split_out", lambda w, t: real(w, t)[::-1])
  elif trap == "fc6_in_caffe_order":
    monkeypatch.setattr(bvlc, "fc6_caffe_to_ours", lambda w: w)
  elif trap == "lrn_paper":
    changes = {"model.lrn": "paper"}
  elif trap == "rgb":
    changes = {"data.channel_order": "rgb"}
  elif trap == "mean_in_rgb_order":
    changes = {"data.pixel_mean": (123.0, 117.0, 104.0)}
  elif trap == "normalised":  # divided by the std, as the project's default inputs are
    changes = {"data.normalization": "mean_std"}
  error = np.abs(_logits_without_a_run(weights, images, **changes) - expected).max()
  tolerance = 1e-4 * np.abs(expected).max()
  assert error < tolerance if trap == "none" else error > 100 * tolerance


def test_a_shape_that_does_not_fit_is_one_line_naming_the_layer(tmp_path):
  weights = random_bvlc(classes=10)
  weights["conv2"] = (weights["conv2"][0][:, :, :24], weights["conv2"][1])
  bvlc.save(str(tmp_path / "bad.npy"), weights)
  with pytest.raises(UserError, match=r"layer conv2 has weights of shape 5x5x24x256, expected "
                                      r"5x5x48x256"):
    bvlc.load(str(tmp_path / "bad.npy"))
  with pytest.raises(UserError, match="no such file"):
    bvlc.load(str(tmp_path / "none.npy"))
  bvlc.save(str(tmp_path / "ten.npy"), random_bvlc(classes=10))
  from configs import alexnet
  with pytest.raises(UserError, match="fc8 has 10 outputs, the config's dataset imagenet2012 "
                                      "has 1000 classes"):
    pretrained.import_bvlc(alexnet.get_config("data=imagenet2012"), str(tmp_path / "ten.npy"),
                           str(tmp_path / "run"))


def test_fine_tuning_with_a_new_fc8_keeps_every_other_layer(imported, tmp_path, capsys):
  # to 3 classes, which the two towers do not divide: fc8 gets 2 units a tower
  directory = imported[0]
  source = directory / "run" if (directory / "run").exists() else _import(directory, "run")
  from configs import alexnet
  config = override(alexnet.get_config("data=synthetic,runlocal=True"),
                    **{"init_from": str(source), "learning_rate": 1e-12, "num_epochs": 1,
                       "data.synthetic_train_size": 8, "data.synthetic_classes": 3,
                       "model.lrn": "caffe", "data.channel_order": "bgr"})
  train.train_and_evaluate(config, str(tmp_path / "ft"))
  assert "freshly initialised (shapes differ): fc8.bias, fc8.kernel\n" in \
      capsys.readouterr().out
  _, tuned, _ = load.load_state(config, str(tmp_path / "ft"))
  _, original, _ = load.load_state(run_record.load_config(str(source)), str(source))
  for layer in ("conv1", "conv5", "fc7"):  # a step at learning rate 1e-12 moves nothing
    np.testing.assert_allclose(tuned["params"][layer]["kernel"][...],
                               original["params"][layer]["kernel"][...], rtol=0, atol=1e-7)
  assert tuned["params"]["fc8"]["kernel"][...].shape == (2, 4096, 2)
  with pytest.raises(UserError, match="is not a run directory"):
    task = task_lib.Task(config, validation.validate(config), draw_params=False)
    init_from.variables_from(task.variables(), "alexnet", str(tmp_path))


def test_predict_on_an_imported_run_gives_imagenet_s_top5_and_fc7(imported, tmp_path):
  from PIL import Image

  directory, _, images, _ = imported
  run = directory / "run" if (directory / "run").exists() else _import(directory, "run")
  path = str(tmp_path / "photo.jpg")
  Image.fromarray(np.random.default_rng(3).integers(0, 256, (300, 400, 3), np.uint8)).save(path)
  config = run_record.load_config(str(run))
  _, state, task = load.load_state(config, str(run))
  batch = inference.load_images([path], config, task.resolved)
  assert batch.shape == (1, 227, 227, 3)  # shorter side to 256, the centre 227
  names = inference.class_names(config, task.resolved)
  assert len(names) == 1000 and names[0] == "tench"  # TFDS's imagenet2012 labels, in English
  indices, probs = inference.top_k(task, task.variables(state), batch)
  assert indices.shape == (1, 5) and np.all(np.diff(probs[0]) <= 0)
  fc7 = inference.activations(task, task.variables(state), batch, "fc7")
  assert fc7.shape == (1, 4096) and fc7.min() >= 0  # after the ReLU


def test_an_fc8_of_a_class_count_the_towers_do_not_divide_round_trips():
  weights = random_bvlc(classes=3)
  params = bvlc.to_params(weights)
  assert params["fc8"]["kernel"].shape == (2, 4096, 2)  # one padded unit, zero
  assert np.all(params["fc8"]["kernel"][1, :, 1] == 0) and params["fc8"]["bias"][1, 1] == 0
  back = bvlc.from_params(params, num_classes=3)
  for layer in bvlc.LAYERS:
    for a, b in zip(back[layer], weights[layer]):
      assert_bitwise_equal(a, b)

"""predict: a run on image files (top-5, a layer's activations, nearest neighbours)."""

import os

import numpy as np
import pytest
from PIL import Image

from conftest import run_command
from lenet_jax.data import embedded
from lenet_jax.runs import load
from lenet_jax.runs import predict as inference


def test_mnist_style_centres_a_dark_digit_on_a_light_page():
  page = np.full((120, 90, 3), 255, np.uint8)
  page[20:80, 50:60] = 0  # a '1' off to the right, dark on white
  digit = inference.mnist_style(page)[..., 0].astype(float)
  assert digit.shape == (28, 28) and digit.max() > 200  # bright ink on black
  rows, cols = np.nonzero(digit > 50)
  assert rows.max() - rows.min() + 1 <= 20 and cols.max() - cols.min() + 1 <= 20
  cy, cx = (np.indices(digit.shape) * digit).reshape(2, -1).sum(1) / digit.sum()
  assert abs(cy - 14) < 1 and abs(cx - 14) < 1  # centred by its centre of mass
  assert inference.mnist_style(np.full((10, 10, 3), 255, np.uint8)).max() == 0  # blank page


def test_nearest_in_chunks_equals_a_full_search():
  rng = np.random.default_rng(0)
  pool, query = rng.normal(size=(50, 7)), rng.normal(size=(3, 7))
  full = np.argsort(((query[:, None] - pool[None]) ** 2).sum(-1), axis=1)[:, :4]
  chunked = inference.nearest_in_chunks(query, 50, lambda rows: pool[rows], 4, chunk=8)
  np.testing.assert_array_equal(chunked, full)


def test_a_stop_signal_ends_the_neighbour_search_before_the_next_chunk():
  import signal

  from lenet_jax.common import preemption
  pool = np.random.default_rng(0).normal(size=(50, 7))
  read = []
  with preemption.StopSignals() as stop:
    os.kill(os.getpid(), signal.SIGTERM)  # recorded, not acted on, while the context holds
    with pytest.raises(preemption.StopRequested,
                       match="stopped by SIGTERM before searching images 0-8 of 50; nothing"):
      inference.nearest_in_chunks(pool[:2], 50, lambda rows: read.append(rows) or pool[rows], 4,
                                  chunk=8, stop=stop)
  assert not read


@pytest.fixture(scope="module")
def digit_run(tmp_path_factory, trained_run):
  images, labels = embedded.load(("test",))["test"]
  pages = tmp_path_factory.mktemp("pages")
  paths = []
  for i in range(3):  # as a user would have them: dark ink on white, larger than 28x28
    page = Image.fromarray(255 - images[i, ..., 0]).resize((84, 84))
    paths.append(str(pages / f"digit{i}.png"))
    page.save(paths[-1])
  return trained_run, paths, labels[:3]


def _predict(*args):
  return run_command("lenet_jax.predict", *args)


def test_predict_top5_features_and_neighbours(digit_run, tmp_path):
  workdir, paths, labels = digit_run
  result = _predict(f"--workdir={workdir}", *paths)
  assert result.returncode == 0, result.stderr
  lines = result.stdout.strip().splitlines()
  assert len(lines) == 3 and all(line.count("%") == 5 for line in lines)
  top1 = [int(line.split(": ")[1].split(" ")[0]) for line in lines]
  assert sum(t == l for t, l in zip(top1, labels)) >= 2  # a trained run reads the digits
  result = _predict(f"--workdir={workdir}", "--neighbours=4", f"--out={tmp_path}/nn.png",
                    *paths[:2])
  assert result.returncode == 0, result.stderr
  with Image.open(tmp_path / "nn.png") as png:
    grid = np.asarray(png.convert("L"))
  assert grid.shape[0] > 200 and grid.std() > 20  # two rows of five images, not blank
  bad = _predict(f"--workdir={workdir}", "--layer=fc7", f"--out={tmp_path}/x.npy", paths[0])
  assert bad.returncode == 1
  assert bad.stderr.strip().splitlines()[-1] == (
      "error: --layer=fc7: the model's stages are C1, S2, C3, S4, C5, F6, OUTPUT")


def test_a_stage_s_activations(digit_run):
  workdir, paths, _ = digit_run
  from lenet_jax.runs import run_record
  config = run_record.load_config(str(workdir))
  _, state, task = load.load_state(config, str(workdir))
  images = inference.load_images(paths, config, task.resolved)
  assert images.shape == (3, 28, 28, 1)
  f6 = inference.activations(task, task.variables(state), images, "F6")
  assert f6.shape == (3, 84) and np.std(f6) > 0
  logits = inference.activations(task, task.variables(state), images, "OUTPUT")
  np.testing.assert_allclose(logits, task.logits(task.variables(state), images), rtol=1e-5,
                             atol=1e-5)


def test_imagenet_classes_are_named_in_english_in_tfds_s_order():
  names = inference.imagenet_names()
  assert len(names) == 1000
  # WordNet ids with their well-known names
  for wnid, name in (("n01440764", "tench"), ("n02085620", "Chihuahua"),
                     ("n02123045", "tabby"), ("n04254680", "soccer ball"),
                     ("n15075141", "toilet tissue")):
    assert names[wnid] == name
  assert list(names)[:2] == ["n01440764", "n01443537"]  # TFDS's label order
  from configs import alexnet
  from lenet_jax.runs import validation
  config = alexnet.get_config("data=imagenet2012")
  listed = inference.class_names(config, validation.validate(config))
  assert listed[0] == "tench" and listed[999] == "toilet tissue"
  config = alexnet.get_config("data=imagenette")
  assert inference.class_names(config, validation.validate(config))[:2] == [
      "tench", "English springer"]

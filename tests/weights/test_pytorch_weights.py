"""AlexNet weights in PyTorch's layout, in (import_weights --format=safetensors|torch) and out
(export_weights), checked against PyTorch's own outputs, which
experiments/weights/make_references.py stored in pytorch_references.npz: torchvision's
forward on random weights equals the imported run's, a two-tower export loaded into a
PyTorch network with groups=2 convolutions gives the run's logits, and export then import
gives every variable back bitwise. None of it needs torch; the .pth tests run where it is
installed."""

import hashlib
import json
import os
import signal

import jax.numpy as jnp
import numpy as np
import pytest

import pytorch_references as refs
from conftest import assert_bitwise_equal, assert_one_line_error, command_env, run_command
from lenet_jax.common import files, preemption
from lenet_jax.common.errors import UserError
from lenet_jax.models import task as task_lib
from lenet_jax.runs import load, run_record, validation
from lenet_jax.training import train
from lenet_jax.weights import (export_weights, import_weights, pytorch_layout,
                               safetensors_file)

REFERENCES = np.load(refs.REFERENCES)
RTOL = 1e-5
TORCH_MISSING = "pip install 'lenet_jax[torch]'"
SUFFIX = {"safetensors": ".safetensors", "torch": ".pth"}


def _skip_without_torch(fmt):
  if fmt == "torch":
    pytest.importorskip("torch")


def _variables(workdir) -> dict:
  """{'conv1.kernel': array, ...} of the run in `workdir`, its parameters and trained state."""
  _, state, task = load.load_state(run_record.load_config(str(workdir)), str(workdir))
  return {k: np.asarray(v) for k, v in import_weights.flat(task.variables(state)).items()}


def _logits(workdir, batch) -> np.ndarray:
  _, state, task = load.load_state(run_record.load_config(str(workdir)), str(workdir))
  return np.asarray(task.logits(task.variables(state), jnp.asarray(batch)))


def _assert_logits_equal(ours, theirs):
  scale = np.abs(theirs).max()
  assert np.std(theirs) > 0.1  # outputs that carry signal (0.25 and more in these networks)
  np.testing.assert_allclose(ours, theirs, rtol=RTOL, atol=RTOL * scale)


def _assert_probes(tensors, label, rtol):
  """`tensors` hold the values the reference script's did, in the same places."""
  probes = {k[len(f"{label}/probe/"):]: float(REFERENCES[k]) for k in REFERENCES.files
            if k.startswith(f"{label}/probe/")}
  assert sorted(probes) == sorted(tensors)
  for key, value in tensors.items():
    # each value within rtol of the script's moves the probe by at most rtol * sum |x|
    assert abs(refs.probe(value) - probes[key]) <= rtol * np.abs(value).sum(), key


def _command_ok(module, *args, env=None):
  proc = run_command(module, *args, env=env)
  assert proc.returncode == 0, proc.stderr
  return proc


def _import(fmt, path, workdir, *args, env=None):
  return _command_ok("lenet_jax.import_weights", f"--format={fmt}", f"--file={path}",
                     f"--workdir={workdir}", *args, env=env)


def _export(fmt, workdir, out, env=None):
  return _command_ok("lenet_jax.export_weights", f"--workdir={workdir}", f"--format={fmt}",
                     f"--out={out}", env=env)


# --- torchvision's AlexNet, full size: its forward against the imported run's ---------

@pytest.fixture(scope="module")
def torchvision_run(tmp_path_factory):
  """torchvision's AlexNet with `refs.torchvision_weights()` as a safetensors file, imported
  by the real command with its default network (configs/alexnet_torchvision.py)."""
  directory = tmp_path_factory.mktemp("torchvision")
  weights = refs.torchvision_weights()
  path = directory / "alexnet.safetensors"
  safetensors_file.save(str(path), weights)
  _import("safetensors", path, directory / "run")
  return directory, weights


@pytest.mark.full_xla
def test_imported_torchvision_logits_equal_torchvision_s_forward(torchvision_run):
  directory, weights = torchvision_run
  _assert_probes(weights, "torchvision", rtol=1e-12)  # the weights torchvision was given
  got = _logits(directory / "run", refs.images(1, 2, 224))
  _assert_logits_equal(got, REFERENCES["torchvision/logits"])
  config = json.loads((directory / "run" / "config.json").read_text())
  assert config["imported_from"]["format"] == "safetensors"
  assert config["imported_from"]["sha256"] == hashlib.sha256(
      (directory / "alexnet.safetensors").read_bytes()).hexdigest()
  assert (config["model"]["towers"], config["model"]["maps"]) == (1, [64, 192, 384, 256, 256])


@pytest.mark.full_xla
def test_torchvision_s_weights_export_back_bitwise(torchvision_run):
  directory, weights = torchvision_run
  out = directory / "again.safetensors"
  _export("safetensors", directory / "run", out)
  back = safetensors_file.load(str(out))
  assert sorted(back) == sorted(weights)  # torchvision's keys, nothing more
  for key, value in weights.items():
    assert back[key].dtype == np.float32
    assert_bitwise_equal(back[key], value, err_msg=key)


# --- small networks: the two-tower export in PyTorch, round trips ---------------------

def _tv_small_config():
  """configs/alexnet_torchvision.py's network at 67x67 (pool5 1x1, averaged to 6x6) with
  256 FC units and 10 classes, on synthetic data."""
  from configs import alexnet_torchvision
  config = alexnet_torchvision.get_config("data=synthetic")
  config.data.source = "synthetic"
  config.data.resize = refs.SMALL_SIDE
  config.data.synthetic_shape = (refs.SMALL_SIDE, refs.SMALL_SIDE, 3)
  config.data.synthetic_classes = 10
  config.data.synthetic_train_size = config.data.synthetic_test_size = 8
  config.batch_size = config.eval_batch_size = 8
  config.model.fc_units = 256
  return config


NETWORKS = {"torchvision": _tv_small_config, "two_tower": lambda: refs.small_config("lrn"),
            "batchnorm": lambda: refs.small_config("batchnorm")}
_RUNS = {}


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
  """name -> (a run of NETWORKS[name] at step 0 with `refs.small_variables`, its
  safetensors export), each made once."""
  def make(name):
    if name not in _RUNS:
      directory = tmp_path_factory.mktemp(name)
      config = NETWORKS[name]()
      resolved = validation.validate(config)
      task = task_lib.Task(config, resolved)
      import_weights.write_run(config, resolved, task, refs.small_variables(task),
                               str(directory / "run"), {"format": "drawn", "seed": 0})
      _export("safetensors", directory / "run", directory / "net.safetensors")
      _RUNS[name] = directory
    return _RUNS[name]
  return make


@pytest.mark.parametrize("label", ["two_tower", "batchnorm"])
def test_a_two_tower_export_gives_pytorch_s_logits_in_a_grouped_network(small_run, label):
  directory = small_run(label)
  tensors = safetensors_file.load(str(directory / "net.safetensors"))
  assert tensors["conv2.weight"].shape == (256, 48, 5, 5)  # PyTorch's groups=2 weight
  assert tensors["conv3.weight"].shape == (384, 256, 3, 3)  # conv3 reads both towers
  assert tensors["fc8.weight"].shape == (refs.SMALL_CLASSES, 256)  # the unused unit dropped
  _assert_probes(tensors, label, rtol=1e-5)  # the values PyTorch was given, in its places
  _assert_logits_equal(_logits(directory / "run", refs.images(2, 4, refs.SMALL_SIDE)),
                       REFERENCES[f"{label}/logits"])
  exported = json.loads((directory / "net.safetensors.json").read_text())
  assert exported["model"]["towers"] == 2 and exported["exported_from"]["step"] == 0


@pytest.mark.parametrize("fmt", ["safetensors", "torch"])
@pytest.mark.parametrize("name", list(NETWORKS))
def test_export_then_import_gives_every_variable_back_bitwise(small_run, tmp_path, name, fmt):
  _skip_without_torch(fmt)
  source = small_run(name) / "run"
  out = tmp_path / f"net{SUFFIX[fmt]}"
  _export(fmt, source, out)
  exported = json.loads((tmp_path / f"net{SUFFIX[fmt]}.json").read_text())["exported_from"]
  assert exported["keys"] == ("torchvision" if name == "torchvision" else "lenet_jax")
  _import(fmt, out, tmp_path / "back")  # the network: the config written beside the file
  before, after = _variables(source), _variables(tmp_path / "back")
  assert sorted(before) == sorted(after)
  classes = NETWORKS[name]().data.synthetic_classes
  for key in before:
    assert after[key].dtype == before[key].dtype
    assert_bitwise_equal(_used(key, after[key], classes), _used(key, before[key], classes),
                         err_msg=key)
  # fc8's unit that 5 classes leave unused in two towers (never trained, never read) is
  # not exported: it comes back as zeros
  if name != "torchvision":
    assert after["fc8.kernel"].shape[-1] * 2 == classes + 1
    assert not after["fc8.kernel"][1, :, -1].any() and after["fc8.bias"][1, -1] == 0
  # the same config, but for where the weights came from
  original = json.loads((source / "config.json").read_text())
  imported = json.loads((tmp_path / "back" / "config.json").read_text())
  assert imported["exported_from"]["workdir"] == str(source)
  assert imported["imported_from"]["format"] == fmt
  for config in (original, imported):
    for key in ("imported_from", "exported_from"):
      config.pop(key, None)
    for key in ("resolved_source", "resolved_location"):
      config["data"].pop(key)
  assert imported == original


def _used(key, value, classes):
  """A variable without fc8's unused units (the towers' units side by side, then cut)."""
  if not key.startswith("fc8."):
    return value
  return np.concatenate(list(value), axis=-1)[..., :classes]


def test_the_layout_alone_round_trips_and_puts_each_value_in_its_place():
  """pytorch_layout on its own, on torchvision's network: PyTorch -> ours -> PyTorch is the
  identity, fc6's inputs go from PyTorch's (C, H, W) flatten of pool5's 256x6x6 to our
  (H, W, C), and an OIHW kernel becomes our (kh, kw, in, out)."""
  from configs import alexnet_torchvision
  config = alexnet_torchvision.get_config()
  task = task_lib.Task(config, validation.validate(config), draw_params=False)
  like = import_weights.flat(task.variables())  # shapes only
  tensors = refs.torchvision_weights()
  ours = pytorch_layout.variables_from(tensors, like, 1000, "test")
  back = pytorch_layout.state_dict(ours, 1000)
  assert sorted(back) == sorted(tensors)
  for key in tensors:
    assert_bitwise_equal(back[key], tensors[key], err_msg=key)
  h, w, c = 2, 3, 7
  np.testing.assert_array_equal(ours["fc6.kernel"][0][(h * 6 + w) * 256 + c],
                                tensors["classifier.1.weight"][:, c * 36 + h * 6 + w])
  np.testing.assert_array_equal(ours["conv2.kernel"][0, 1, 4, 5, 6],
                                tensors["features.3.weight"][6, 5, 1, 4])


# --- errors, each one line --------------------------------------------------------------

def test_a_file_for_another_network_is_one_line_naming_the_key(small_run, tmp_path):
  export = small_run("two_tower") / "net.safetensors"
  proc = run_command("lenet_jax.import_weights", "--format=safetensors", f"--file={export}",
                     f"--workdir={tmp_path}/run",
                     "--config=configs/alexnet_torchvision.py:data=synthetic",
                     "--config.data.synthetic_classes=5")
  assert_one_line_error(proc, "conv1.weight has shape 96x3x11x11", "needs 64x3x11x11")
  # the config beside the file, with an override: a network without BatchNorm's layers
  batchnorm = small_run("batchnorm") / "net.safetensors"
  proc = run_command("lenet_jax.import_weights", "--format=safetensors", f"--file={batchnorm}",
                     f"--workdir={tmp_path}/run", "--config.model.norm=lrn")
  assert_one_line_error(proc, "bn1.bias, bn1.running_mean", "no place for")
  tensors = safetensors_file.load(str(export))
  tensors["conv2.weight"] = tensors["conv2.weight"][:, :24]
  safetensors_file.save(str(tmp_path / "bad.safetensors"), tensors)
  (tmp_path / "bad.safetensors.json").write_text((export.parent / "net.safetensors.json")
                                                 .read_text())
  proc = run_command("lenet_jax.import_weights", "--format=safetensors",
                     f"--file={tmp_path}/bad.safetensors", f"--workdir={tmp_path}/run2")
  assert_one_line_error(proc, "conv2.weight has shape 256x24x5x5", "needs 256x48x5x5")
  proc = run_command("lenet_jax.import_weights", "--format=safetensors",
                     f"--file={small_run('torchvision')}/net.safetensors",
                     f"--workdir={tmp_path}/run3",
                     "--config=configs/alexnet_torchvision.py:data=synthetic")
  assert_one_line_error(proc, "fc8 has 10 outputs", "synthetic has 1000 classes")
  (tmp_path / "junk.safetensors").write_bytes(b"not a safetensors file")
  proc = run_command("lenet_jax.import_weights", "--format=safetensors",
                     f"--file={tmp_path}/junk.safetensors", f"--workdir={tmp_path}/run4")
  assert_one_line_error(proc, "is not a safetensors file")
  assert not any((tmp_path / f"run{i}").exists() for i in ("", 2, 3, 4))


def test_export_refuses_a_lenet_run_a_missing_run_and_an_unwritable_out(trained_run, small_run,
                                                                         tmp_path):
  out = tmp_path / "x.safetensors"
  proc = run_command("lenet_jax.export_weights", f"--workdir={trained_run}",
                     "--format=safetensors", f"--out={out}")
  assert_one_line_error(proc, "is a run of lenet5", "writes AlexNet runs")
  proc = run_command("lenet_jax.export_weights", f"--workdir={tmp_path}/none",
                     "--format=safetensors", f"--out={out}")
  assert_one_line_error(proc, "not found")
  (tmp_path / "file").write_text("")
  proc = run_command("lenet_jax.export_weights", f"--workdir={small_run('two_tower')}/run",
                     "--format=safetensors", f"--out={tmp_path}/file/x.safetensors")
  assert_one_line_error(proc, "--out=", "cannot be written")
  assert not out.exists()


def _without_torch(tmp_path) -> dict:
  """An environment where `import torch` fails, as where the extra is not installed."""
  fake = tmp_path / "no_torch" / "torch"
  fake.mkdir(parents=True)
  (fake / "__init__.py").write_text("raise ImportError('No module named torch')\n")
  return command_env(PYTHONPATH=str(fake.parent))


def test_torch_files_without_torch_are_one_line_naming_the_extra(small_run, tmp_path):
  env = _without_torch(tmp_path)
  proc = run_command("lenet_jax.import_weights", "--format=torch", f"--file={tmp_path}/a.pth",
                     f"--workdir={tmp_path}/run", env=env)
  assert_one_line_error(proc, "reading .pth files needs PyTorch", TORCH_MISSING)
  proc = run_command("lenet_jax.export_weights", f"--workdir={small_run('two_tower')}/run",
                     "--format=torch", f"--out={tmp_path}/b.pth", env=env)
  assert_one_line_error(proc, "--format=torch", "needs PyTorch", TORCH_MISSING)
  assert not (tmp_path / "run").exists() and not (tmp_path / "b.pth").exists()


def test_a_pth_whose_pickle_would_run_code_is_refused_and_nothing_runs(tmp_path):
  torch = pytest.importorskip("torch")
  created = tmp_path / "created_by_the_pickle"

  class Creates:
    def __reduce__(self):
      return (os.system, (f"touch {created}",))

  path = tmp_path / "alexnet.pth"
  torch.save({"features.0.weight": torch.zeros(2), "extra": Creates()}, str(path))
  proc = run_command("lenet_jax.import_weights", "--format=torch", f"--file={path}",
                     f"--workdir={tmp_path}/run")
  assert_one_line_error(proc, f"--file={path}", "refused", "nothing in it ran")
  assert not created.exists() and not (tmp_path / "run").exists()
  torch.load(str(path), weights_only=False)  # PyTorch's full reader would have run it
  assert created.exists()


def test_a_stop_ends_an_export_with_the_file_whole_or_absent(small_run, tmp_path, monkeypatch):
  run = str(small_run("two_tower") / "run")
  config = run_record.load_config(run)
  out = tmp_path / "a.safetensors"
  with preemption.StopSignals():  # a stop while the run is read: at once, nothing written
    os.kill(os.getpid(), signal.SIGTERM)
    with pytest.raises(preemption.StopRequested, match="nothing was written"):
      export_weights.export_run(config, run, "safetensors", str(out))
  assert os.listdir(tmp_path) == []
  write = files.write_atomic

  def stopped_while_writing(path, data, sync=False):
    if path == str(out):  # one signal: a second one ends a process at once
      os.kill(os.getpid(), signal.SIGTERM)
    write(path, data, sync)

  monkeypatch.setattr(files, "write_atomic", stopped_while_writing)
  with preemption.StopSignals() as stop:  # a stop during the writes: they finish, whole
    export_weights.export_run(config, run, "safetensors", str(out))
    assert stop.signum == signal.SIGTERM
  assert sorted(os.listdir(tmp_path)) == ["a.safetensors", "a.safetensors.json"]
  expected = safetensors_file.load(str(small_run("two_tower") / "net.safetensors"))
  for key, value in safetensors_file.load(str(out)).items():
    assert_bitwise_equal(value, expected[key])
  os.remove(out)
  os.remove(f"{out}.json")

  def no_room_for_the_config(path, data, sync=False):
    if path.endswith(".json"):
      raise OSError(28, "No space left on device")
    write(path, data, sync)

  monkeypatch.setattr(files, "write_atomic", no_room_for_the_config)
  with pytest.raises(UserError, match="cannot write --out=.*No space left on device"):
    export_weights.export_run(config, run, "safetensors", str(out))
  assert os.listdir(tmp_path) == []  # no weights without their config


# --- an imported run is a run: evaluate, predict, fine-tuning --------------------------

def test_evaluate_predict_and_fine_tuning_work_on_an_imported_run(small_run, tmp_path, capsys):
  from PIL import Image

  run = tmp_path / "imported"
  _import("safetensors", small_run("two_tower") / "net.safetensors", run)
  proc = _command_ok("lenet_jax.evaluate", f"--workdir={run}")
  assert "on 8 synthetic test images" in proc.stdout
  image = tmp_path / "photo.png"
  Image.fromarray(refs.images(3, 1, 90)[0]).save(image)
  proc = _command_ok("lenet_jax.predict", f"--workdir={run}", str(image))
  assert str(image) in proc.stdout
  config = refs.small_config("lrn")  # to 3 classes: a new fc8, every other layer kept
  config.init_from = str(run)
  config.data.synthetic_classes = 3
  config.learning_rate = 1e-12
  train.train_and_evaluate(config, str(tmp_path / "tuned"))
  assert "freshly initialised (shapes differ): fc8.bias, fc8.kernel\n" in capsys.readouterr().out
  tuned, imported = _variables(tmp_path / "tuned"), _variables(run)
  for key in ("conv1.kernel", "conv5.kernel", "fc7.kernel"):
    np.testing.assert_allclose(tuned[key], imported[key], rtol=0, atol=1e-7)
  assert tuned["fc8.kernel"].shape == (2, 256, 2)

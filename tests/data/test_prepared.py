"""The prepared set: made once from an image folder or TFDS, read at random, cropped on
the device, trained and evaluated from."""

import gc
import hashlib
import json
import os
import signal
import subprocess
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import assert_one_line_error, run_command, start_command
from conftest import ROOT, override
from lenet_jax import data
from lenet_jax.runs import evaluate
from lenet_jax.training import train
from lenet_jax.data import crops, prepared
from lenet_jax.data import prepare as prepare_lib
from lenet_jax.common.errors import UserError


def _save(path, array, **kwargs):
  from PIL import Image
  os.makedirs(os.path.dirname(path), exist_ok=True)
  Image.fromarray(array).save(path, **kwargs)


def make_tree(root, per_class=3, size=(90, 120), seed=0, bad=True, classes="abc"):
  """train/ and val/ with classes a, b, c; the oddities ImageNet has; one truncated file."""
  rng = np.random.default_rng(seed)
  from PIL import Image
  for split in ("train", "val"):
    for c in classes:
      for i in range(per_class):
        _save(f"{root}/{split}/{c}/{i}.JPEG",
              rng.integers(0, 256, size + (3,), np.uint8), quality=95)
  grey = rng.integers(0, 256, size, np.uint8)
  _save(f"{root}/train/a/grey.JPEG", grey)
  _save(f"{root}/train/b/cmyk.JPEG", rng.integers(0, 256, size + (3,), np.uint8))
  with Image.open(f"{root}/train/b/cmyk.JPEG") as im:
    im.convert("CMYK").save(f"{root}/train/b/cmyk.JPEG", format="JPEG")
  # ImageNet's n02105855_2933.JPEG is a PNG.
  _save(f"{root}/train/{classes[-1]}/png.JPEG", rng.integers(0, 256, size + (3,), np.uint8), format="PNG")
  if bad:
    whole = open(f"{root}/train/a/0.JPEG", "rb").read()
    open(f"{root}/train/a/truncated.JPEG", "wb").write(whole[:len(whole) // 2])


def folder_config(tree, **overrides):
  from configs import alexnet
  config = alexnet.get_config("data=imagenette,runlocal=True")
  return override(config, **{"data.source": "folder", "data.dir": str(tree),
                             "data.on_bad_image": "skip", "data.shard_size": 4, **overrides})


def prepare(config, out, workers=1):
  spec, _ = data.validate(config.data)
  return prepare_lib.prepare(config.data, spec, str(out), "test", workers=workers)


def tree_digest(out):
  digest = {}
  for base, _, files in os.walk(out):
    for name in sorted(files):
      path = os.path.join(base, name)
      digest[os.path.relpath(path, out)] = hashlib.sha256(open(path, "rb").read()).hexdigest()
  return digest


def test_folder_tree_with_imagenet_oddities(tmp_path):
  make_tree(tmp_path / "tree")
  manifest = prepare(folder_config(tmp_path / "tree"), tmp_path / "out")
  assert manifest["classes"] == ["a", "b", "c"] and manifest["image_shape"] == [256, 256, 3]
  train_split = manifest["splits"]["train"]
  # 9 plain + grey + CMYK + PNG named .JPEG; the truncated file named and left out.
  assert train_split["size"] == 12 and manifest["splits"]["validation"]["size"] == 9
  assert [s[0] for s in train_split["skipped"]] == [str(tmp_path / "tree/train/a/truncated.JPEG")]
  assert "truncated" in train_split["skipped"][0][1]
  split = prepared.PreparedSplit(str(tmp_path / "out"), "train")
  images, labels = split.read(np.arange(len(split)))
  assert images.shape == (12, 256, 256, 3) and images.dtype == np.uint8
  np.testing.assert_array_equal(labels, [0] * 4 + [1] * 4 + [2] * 4)  # sorted class, then file
  # grey.JPEG (label 0, after 0-2.JPEG; truncated skipped) became RGB with equal channels.
  grey = images[3].astype(int)
  assert np.array_equal(grey[..., 0], grey[..., 1]) and np.array_equal(grey[..., 1], grey[..., 2])
  with pytest.raises(UserError, match=r"truncated\.JPEG cannot be read.*on_bad_image=skip"):
    prepare(folder_config(tmp_path / "tree", **{"data.on_bad_image": "stop"}), tmp_path / "o2")


def test_fixed_size_is_the_central_256_patch_of_the_shorter_side_resize():
  rows = np.arange(300)[:, None, None] * np.ones((1, 256, 3))
  image = np.clip(rows, 0, 255).astype(np.uint8)  # 300 x 256: already 256 on the short side
  out = prepare_lib.fixed_size(image, 256)
  np.testing.assert_array_equal(out, image[22:278])  # (300 - 256) // 2 = 22 rows off the top
  wide = prepare_lib.fixed_size(np.zeros((128, 512, 3), np.uint8), 256)
  assert wide.shape == (256, 256, 3)


def test_a_killed_preparation_continues_to_byte_identical_output(tmp_path):
  make_tree(tmp_path / "tree", per_class=4, size=(400, 500), bad=False)
  config = folder_config(tmp_path / "tree", **{"data.shard_size": 1})
  prepare(config, tmp_path / "whole")
  # A kill leaves finished shards, a shard with no .json and .tmp files: made again.
  prepare(config, tmp_path / "cut")
  os.remove(tmp_path / "cut/manifest.json")
  os.remove(tmp_path / "cut/train/shard-00003.json")
  with open(tmp_path / "cut/train/shard-00005.images", "r+b") as f:
    f.truncate(1000)  # torn write of a shard whose .json survived
  open(tmp_path / "cut/train/shard-00006.images.tmp", "wb").write(b"partial")
  assert prepare_lib.finished(prepare_lib.Job(str(tmp_path / "cut"), "train", 5, "folder", (),
                                              256, "stop")) is None
  prepare(config, tmp_path / "cut")  # in this process: the command test below forks workers
  for leftover in (tmp_path / "cut/train").glob("*.tmp"):
    leftover.unlink()  # a .tmp beside a finished shard is never read
  assert tree_digest(tmp_path / "cut") == tree_digest(tmp_path / "whole")
  # A real SIGKILL of the command, then the same command again.
  out = tmp_path / "killed"
  args = ["--config=configs/alexnet.py:data=imagenette", "--config.data.source=folder",
          f"--config.data.dir={tmp_path / 'tree'}", "--config.data.shard_size=1",
          "--config.data.prepare_workers=2", f"--out={out}"]
  proc = start_command("lenet_jax.prepare", *args, start_new_session=True)
  deadline = time.time() + 60
  while not list(out.glob("train/*.json")) and time.time() < deadline and proc.poll() is None:
    time.sleep(0.005)
  os.killpg(proc.pid, signal.SIGKILL)  # the command and its workers, as a scheduler would
  proc.communicate()
  finished_before = len(list(out.glob("*/*.json")))
  rerun = run_command("lenet_jax.prepare", *args)
  assert rerun.returncode == 0, rerun.stderr
  assert finished_before < 24  # the kill came before the end
  whole = tree_digest(tmp_path / "whole")
  again = {k: v for k, v in tree_digest(out).items() if not k.endswith(".tmp")}
  whole.pop("manifest.json"), again.pop("manifest.json")  # their commands differ
  assert again == whole


def test_refusals_each_in_one_line(tmp_path, monkeypatch):
  make_tree(tmp_path / "tree", bad=False)
  config = folder_config(tmp_path / "tree")
  (tmp_path / "full").mkdir()
  (tmp_path / "full/mine.txt").write_text("a user's file")
  with pytest.raises(UserError, match="not empty and holds no preparation"):
    prepare(config, tmp_path / "full")
  assert (tmp_path / "full/mine.txt").read_text() == "a user's file"
  import shutil
  monkeypatch.setattr(shutil, "disk_usage", lambda p: shutil._ntuple_diskusage(10**6, 10**6, 1000))
  images = sum(len(files) for _, _, files in os.walk(tmp_path / "tree"))
  need = prepare_lib.size_text(images * (256 * 256 * 3 + 4))
  assert need.endswith(" MB") and not need.startswith("0.0")
  with pytest.raises(UserError, match=rf"needs {need} more in .* and 1\.0 kB is free"):
    prepare(config, tmp_path / "new")
  assert not (tmp_path / "new").exists()
  monkeypatch.undo()
  (tmp_path / "locked").mkdir()
  (tmp_path / "locked" / "lock.json").write_text(
      '{"host": "elsewhere", "pid": 1, "what": "lenet_jax.prepare", "since": "today"}')
  with pytest.raises(UserError, match="being written by lenet_jax.prepare .pid 1 on elsewhere"):
    prepare(config, tmp_path / "locked")
  prepare(config, tmp_path / "out")
  other = folder_config(tmp_path / "tree", **{"data.shorter_side": 240})
  with pytest.raises(UserError, match="holds a preparation of other input"):
    prepare(other, tmp_path / "out")
  with pytest.raises(UserError, match="no finished prepared set"):
    prepared.read_manifest(str(tmp_path / "tree"))


def test_prepare_s_user_mistakes_are_one_line(tmp_path):
  from configs import alexnet
  make_tree(tmp_path / "tree", bad=False)
  # a resident dataset's name with an image folder (it has no 'test' folder to read)
  resident = override(alexnet.get_config("runlocal"),
                      **{"data.source": "folder", "data.dir": str(tmp_path / "tree")})
  proc = run_command("lenet_jax.prepare", "--config=configs/alexnet.py:runlocal",
                     "--config.data.source=folder", f"--config.data.dir={tmp_path / 'tree'}",
                     f"--out={tmp_path / 'out'}")
  assert_one_line_error(proc, "config.data.source='folder'", "imagenet2012 or imagenette")
  with pytest.raises(UserError, match="named imagenet2012 or imagenette"):
    data.validate(resident.data)
  # an --out that cannot be made: in a read-only directory (a mode root ignores, so also
  # /sys, read-only for everyone), or under a file
  (tmp_path / "readonly").mkdir()
  (tmp_path / "a_file").write_text("")
  os.chmod(tmp_path / "readonly", 0o500)
  unwritable = [tmp_path / "a_file" / "out", "/sys/lenet_jax_out"]
  if not os.access(tmp_path / "readonly", os.W_OK):
    unwritable.append(tmp_path / "readonly" / "out")
  try:
    for out in unwritable:
      proc = run_command("lenet_jax.prepare", "--config=configs/alexnet.py:data=imagenette",
                         "--config.data.source=folder", f"--config.data.dir={tmp_path / 'tree'}",
                         f"--out={out}")
      assert_one_line_error(proc, f"cannot write to {out}")
  finally:
    os.chmod(tmp_path / "readonly", 0o700)


def test_tfds_source_through_mock_data(tmp_path):
  import tensorflow_datasets as tfds
  from configs import alexnet
  config = alexnet.get_config("data=imagenette,runlocal=True")
  config = override(config, **{"data.source": "tfds", "data.shard_size": 4})
  with tfds.testing.mock_data(num_examples=6, policy=tfds.testing.MockPolicy.USE_CODE):
    manifest = prepare(config, tmp_path / "out")
  assert manifest["splits"]["train"]["size"] == 6 and len(manifest["classes"]) == 10
  assert manifest["classes"][0] == "n01440764"
  images, labels = prepared.PreparedSplit(str(tmp_path / "out"), "validation").read(range(6))
  assert images.shape == (6, 256, 256, 3) and labels.dtype == np.int32


def test_device_crops_on_an_image_of_known_pixels():
  # Pixel (r, c) holds r in channel 0 and c in channel 1.
  r, c = np.meshgrid(np.arange(8), np.arange(8), indexing="ij")
  image = np.stack([r, c, np.zeros_like(r)], -1).astype(np.float32)[None].repeat(64, 0)
  out = np.asarray(crops.random_crop_flip(jax.random.key(0), jnp.asarray(image), 5))
  flips = 0
  for patch in out:
    top, rows = patch[0, 0, 0], patch[:, 0, 0]
    np.testing.assert_array_equal(rows, top + np.arange(5))
    cols = patch[0, :, 1]
    flipped = cols[0] > cols[-1]
    left = cols.min()
    np.testing.assert_array_equal(cols, (left + np.arange(5))[::-1] if flipped else
                                  left + np.arange(5))
    flips += flipped
    assert 0 <= top <= 3 and 0 <= left <= 3
  assert 16 < flips < 48
  np.testing.assert_array_equal(crops.center_crop(image, 5)[0, :, 0, 0], 1 + np.arange(5))
  ten = np.asarray(crops.ten_crops(jnp.asarray(image[:2]), 5))
  assert ten.shape == (10, 2, 5, 5, 3)
  corners = [(0, 0), (0, 3), (3, 0), (3, 3), (1, 1)]
  for i, (top, left) in enumerate(corners):
    assert (ten[i, 0, 0, 0, 0], ten[i, 0, 0, 0, 1]) == (top, left)
    np.testing.assert_array_equal(ten[i + 5], ten[i][:, :, ::-1])


def test_a_batch_read_is_the_images_one_by_one_in_the_order_asked(tmp_path):
  make_tree(tmp_path / "tree", per_class=4, size=(40, 40), bad=False)
  prepare(folder_config(tmp_path / "tree"), tmp_path / "out")
  split = prepared.PreparedSplit(str(tmp_path / "out"), "train")  # 15 images, 4 a shard
  assert len(split.images) == 4
  for indices in ([0, 1, 2, 3, 4, 5, 9, 14], [14, 0, 7, 3, 3, 8, 1], [6], []):
    images, labels = split.read(indices)
    assert images.shape == (len(indices), 256, 256, 3)
    for row, i in enumerate(indices):
      np.testing.assert_array_equal(images[row], split[i]["image"])
      assert labels[row] == split[i]["label"]
  for bad in ([15], [-1], [3, 20]):
    with pytest.raises(IndexError):
      split.read(bad)


def test_batches_held_by_the_loop_stay_as_read_while_buffers_are_reused(tmp_path):
  make_tree(tmp_path / "tree", per_class=6, size=(40, 40), bad=False)
  prepare(folder_config(tmp_path / "tree"), tmp_path / "out")
  split = prepared.PreparedSplit(str(tmp_path / "out"), "train")  # 21 images
  stream = prepared.PreparedStream(split, 2, train=True, seed=0, threads=2, prefetch=2)
  held = [(jax.device_put(images), labels) for images, labels in stream.epoch(1)]
  for b, (images, labels) in enumerate(held):  # 10 batches, more than the pool keeps
    expected = split.read(stream.rows(1, b))
    np.testing.assert_array_equal(np.asarray(images), expected[0])
    np.testing.assert_array_equal(labels, expected[1])
  del held, images, labels
  gc.collect()  # np.asarray(a device array) caches a view that refers back to it
  allocated = stream.buffers.allocated
  for _ in stream.epoch(2):  # each batch let go before the next: kept buffers serve
    pass
  assert stream.buffers.allocated == allocated


def test_streams_read_disjoint_rows_per_process_and_resume_mid_epoch(tmp_path):
  make_tree(tmp_path / "tree", per_class=6, size=(40, 40), bad=False)
  prepare(folder_config(tmp_path / "tree"), tmp_path / "out")
  split = prepared.PreparedSplit(str(tmp_path / "out"), "train")  # 21 images
  whole = prepared.PreparedStream(split, 6, train=True, seed=3)
  halves = [prepared.PreparedStream(split, 6, train=True, seed=3, process_index=p,
                                    process_count=2) for p in (0, 1)]
  assert whole.num_batches == halves[0].num_batches == 3
  for b in range(3):
    rows = [h.rows(2, b) for h in halves]
    assert not set(rows[0]) & set(rows[1]) and len(rows[0]) == 3
    assert sorted(np.concatenate(rows)) == sorted(whole.rows(2, b))
  every = [r for b in range(3) for r in whole.rows(1, b)]
  assert len(set(every)) == 18  # an epoch draws without replacement
  assert not np.array_equal(whole.rows(1, 0), whole.rows(2, 0))  # reshuffled each epoch
  full = list(whole.epoch(1))
  resumed = list(whole.epoch(1, skip=2))
  np.testing.assert_array_equal(resumed[0][0], full[2][0])
  np.testing.assert_array_equal(resumed[0][1], full[2][1])
  test = [prepared.PreparedStream(split, 8, train=False, seed=0, process_index=p,
                                  process_count=2) for p in (0, 1)]
  seen = [r for t in test for b in range(t.num_batches) for r in t.rows(0, b)]
  assert sorted(seen) == list(range(20))  # 21 less 21 mod 2


def test_alexnet_trains_and_evaluates_from_a_prepared_set(tmp_path):
  make_tree(tmp_path / "tree", per_class=4, bad=False, classes="ab")
  prepare(folder_config(tmp_path / "tree"), tmp_path / "out")
  from configs import alexnet
  config = override(alexnet.get_config("data=imagenette,runlocal=True"),
                    **{"data.source": "prepared", "data.dir": str(tmp_path / "out"),
                       # patches of the 256x256 images; a small AlexNet
                       "data.crop": 67, "model.fc_units": 1024,
                       "batch_size": 4, "eval_batch_size": 4, "num_epochs": 1})
  result = train.train_and_evaluate(config, str(tmp_path / "run"))
  assert result["data_source"] == "prepared" and result["epochs"] == 1
  record = json.loads((tmp_path / "run/metrics.jsonl").read_text().splitlines()[0])
  assert record["step"] == 2  # 8 + grey + CMYK + PNG: 11 training images, batch 4
  # Batches placed in the loop instead of 2 ahead in a thread: the same run.
  in_loop = train.train_and_evaluate(override(config, **{"data.device_prefetch": 0}),
                                     str(tmp_path / "in_loop"))
  for a, b in zip(jax.tree.leaves(result["state"]["params"]),
                  jax.tree.leaves(in_loop["state"]["params"])):
    np.testing.assert_array_equal(a, b)
  again = json.loads((tmp_path / "in_loop/metrics.jsonl").read_text().splitlines()[0])
  assert again["test_loss"] == record["test_loss"]
  centre = evaluate.evaluate_run(config, str(tmp_path / "run"))
  assert centre["test_examples"] == 8 and centre["patches"] == "centre"
  np.testing.assert_allclose(centre["test_loss"], record["test_loss"], rtol=1e-5)
  ten = evaluate.evaluate_run(override(config, **{"eval.ten_crop": True}), str(tmp_path / "run"))
  assert ten["patches"] == "ten" and ten["test_loss"] != centre["test_loss"]


_READ_ROWS = """
import json, sys
import jax
jax.config.update("jax_cpu_collectives_implementation", "gloo")
jax.distributed.initialize(coordinator_address=sys.argv[1], num_processes=2,
                           process_id=int(sys.argv[2]))
sys.path.insert(0, sys.argv[4])
from configs import alexnet
from lenet_jax import data
from lenet_jax.data import prepared
config = alexnet.get_config("data=imagenette")
config.data.source, config.data.dir, config.batch_size = "prepared", sys.argv[3], 6
train, _ = prepared.streams(config, *data.validate(config.data))
images, labels = next(train.epoch(1))
print(json.dumps({"process": jax.process_index(), "rows": train.rows(1, 0).tolist(),
                  "shape": list(images.shape), "labels": labels.tolist()}))
"""


def test_two_processes_read_disjoint_rows_of_each_batch(tmp_path):
  """Two real CPU processes (jax.distributed): each reads its own half of the global batch."""
  import json
  import socket
  make_tree(tmp_path / "tree", per_class=4, size=(40, 40), bad=False)
  prepare(folder_config(tmp_path / "tree"), tmp_path / "out")
  with socket.socket() as s:
    s.bind(("localhost", 0))
    port = s.getsockname()[1]
  env = dict(os.environ, JAX_PLATFORMS="cpu", XLA_FLAGS="")
  procs = [subprocess.Popen([sys.executable, "-c", _READ_ROWS, f"localhost:{port}", str(i),
                             str(tmp_path / "out"), ROOT], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True) for i in range(2)]
  outs = [p.communicate(timeout=120) for p in procs]
  assert all(p.returncode == 0 for p in procs), [o[1][-2000:] for o in outs]
  got = sorted((json.loads(o[0].strip().splitlines()[-1]) for o in outs),
               key=lambda r: r["process"])
  whole = prepared.PreparedStream(prepared.PreparedSplit(str(tmp_path / "out"), "train"), 6,
                                  train=True, seed=0)
  assert [g["shape"] for g in got] == [[3, 256, 256, 3]] * 2  # half of the batch of 6 each
  assert not set(got[0]["rows"]) & set(got[1]["rows"])
  assert sorted(got[0]["rows"] + got[1]["rows"]) == sorted(whole.rows(1, 0))


def test_read_threads_default_to_one_per_core_up_to_8(tmp_path):
  make_tree(tmp_path / "tree", per_class=2, size=(40, 40), bad=False)
  prepare(folder_config(tmp_path / "tree"), tmp_path / "out")
  from configs import alexnet
  config = override(alexnet.get_config("data=imagenette"),
                    **{"data.source": "prepared", "data.dir": str(tmp_path / "out"),
                       "batch_size": 2})
  spec, manifest = data.validate(config.data)
  train_stream, test_stream = prepared.streams(config, spec, manifest)
  assert train_stream.threads == test_stream.threads == min(os.cpu_count(), 8)
  config.data.read_threads = 3
  assert prepared.streams(config, spec, manifest)[0].threads == 3

import io

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import override, tiny_config
from lenet_jax import data
from lenet_jax.runs import metrics
from lenet_jax.training import train
from lenet_jax.data import streaming
from lenet_jax.common.errors import ConfigError, UserError

import tensorflow_datasets as tfds  # noqa: E402  (a requirement: no skip)


def test_shorter_side_resize_and_crops():
  image = np.random.default_rng(0).integers(0, 256, (300, 400, 3), np.uint8)
  resized = streaming.resize_shorter_side(image, 256)
  assert resized.shape == (256, 341, 3) and resized.dtype == np.uint8
  assert streaming.resize_shorter_side(resized, 256) is resized  # already there
  assert streaming.resize_shorter_side(image[:, :200], 256).shape == (384, 256, 3)
  crop = streaming.center_crop(resized, 227)
  np.testing.assert_array_equal(crop, resized[14:241, 57:284])
  rng = np.random.default_rng(1)
  crops = [streaming.random_crop_and_flip(resized, rng, 227) for _ in range(20)]
  assert all(c.shape == (227, 227, 3) for c in crops)
  # Every crop is a window of the image, some of them mirrored.
  flipped = 0
  for c in crops:
    for candidate, is_flipped in ((c, False), (c[:, ::-1], True)):
      hits = np.argwhere((resized[:, :, 0] == candidate[0, 0, 0]))
      if any(np.array_equal(resized[t:t + 227, l:l + 227], candidate) for t, l in hits
             if t + 227 <= 256 and l + 227 <= 341):
        flipped += is_flipped
        break
    else:
      pytest.fail("a crop is not a window of the image")
  assert 0 < flipped < 20


def test_decode_takes_encoded_bytes_and_grey_images():
  from PIL import Image
  image = np.random.default_rng(0).integers(0, 256, (20, 30, 3), np.uint8)
  buffer = io.BytesIO()
  Image.fromarray(image).save(buffer, format="PNG")
  np.testing.assert_array_equal(streaming.decode(buffer.getvalue()), image)
  grey = streaming.decode(image[..., :1])
  assert grey.shape == (20, 30, 3) and np.array_equal(grey[..., 2], image[..., 0])


def test_pca_lighting_constants_are_the_published_ones():
  # Published values, pinned: the paper gives none, and no ImageNet is stored here to
  # compute them again. These are fb.resnet.torch's (github.com/facebook/fb.resnet.torch,
  # datasets/imagenet.lua, "Computed from random subset of ImageNet training images"),
  # whose Lighting (datasets/transforms.lua) adds sum_j eigvec[i][j] alpha_j eigval_j to
  # channel i of a [0, 1] image: the eigenvectors are the columns. alpha's std 0.1 is the
  # paper's (section 4.1).
  assert streaming.PCA_EIGENVALUES == (0.2175, 0.0188, 0.0045)
  assert streaming.PCA_EIGENVECTORS == ((-0.5675, 0.7192, 0.4009),
                                        (-0.5808, -0.0045, -0.8140),
                                        (-0.5836, -0.6948, 0.4203))
  assert streaming.PCA_STD == 0.1
  # What four decimals allow checking: the columns are orthonormal to within their
  # rounding (each entry within 5e-5: |P^T P - I| <= 2 sqrt(3) 5e-5), the eigenvalues
  # descend. A digit mistyped here and in the library alike (0.7192 -> 0.7129: 9e-3 off)
  # or a sign fails here.
  p = np.array(streaming.PCA_EIGENVECTORS)
  np.testing.assert_allclose(p.T @ p, np.eye(3), atol=2 * np.sqrt(3) * 5e-5)
  assert list(streaming.PCA_EIGENVALUES) == sorted(streaming.PCA_EIGENVALUES, reverse=True)


def test_pca_lighting_shifts_each_image_along_the_eigenvectors():
  x = jnp.zeros((20000, 2, 2, 3))
  shifted = streaming.pca_lighting(jax.random.key(0), x)
  shift = np.asarray(shifted[:, 0, 0])
  np.testing.assert_allclose(shifted, np.broadcast_to(shift[:, None, None], x.shape), atol=1e-7)
  # shift = P (alpha * lambda): its coordinates along the eigenvectors (P's columns) are
  # alpha_i lambda_i, independent with std 0.1 lambda_i. Each checked at its own scale
  # (the third eigenvalue is 48x smaller than the first), 20,000 draws: std within 3%.
  p, lam = np.array(streaming.PCA_EIGENVECTORS), np.array(streaming.PCA_EIGENVALUES)
  coordinates = np.linalg.solve(p, shift.T.astype(np.float64)).T
  np.testing.assert_allclose(coordinates.std(0), 0.1 * lam, rtol=0.03)
  correlation = np.corrcoef(coordinates.T)
  assert np.all(np.abs(correlation[~np.eye(3, dtype=bool)]) < 0.03), correlation
  assert np.array_equal(streaming.pca_lighting(jax.random.key(0), x, std=0.0), x)


def _stream(train_split=True, batch_size=4, **kwargs):
  source = tfds.data_source("imagenette/160px-v2",
                            split="train" if train_split else "validation")
  return streaming.Stream(source, batch_size, train=train_split, seed=0, threads=2,
                          shorter_side=40, crop=32, **kwargs)


def test_stream_batches_shuffle_per_epoch_skip_and_split_by_process():
  with tfds.testing.mock_data(num_examples=10):
    stream = _stream()
    assert stream.num_batches == 2
    first = list(stream.epoch(1))
    assert [b[0].shape for b in first] == [(4, 32, 32, 3)] * 2
    assert first[0][0].dtype == np.uint8 and first[0][1].dtype == np.int32
    again = list(stream.epoch(1))
    assert all(np.array_equal(a[0], b[0]) for a, b in zip(first, again))  # deterministic
    other = list(stream.epoch(2))
    assert not all(np.array_equal(a[0], b[0]) for a, b in zip(first, other))
    skipped = list(stream.epoch(1, skip=1))
    assert len(skipped) == 1 and np.array_equal(skipped[0][0], first[1][0])

    evaluation = _stream(train_split=False)
    labels = np.concatenate([b[1] for b in evaluation.epoch(0)])
    source = tfds.data_source("imagenette/160px-v2", split="validation")
    assert evaluation.num_batches == 3
    np.testing.assert_array_equal(labels, [source[i]["label"] for i in range(10)])
    # Two processes read disjoint halves of the evaluation split, each half a batch.
    halves = [_stream(train_split=False, process_index=i, process_count=2) for i in range(2)]
    assert halves[0].batch_size == 2
    got = [np.concatenate([b[1] for b in h.epoch(0)]) for h in halves]
    np.testing.assert_array_equal(got[0], labels[0::2])
    np.testing.assert_array_equal(got[1], labels[1::2])


def _alexnet_config(**overrides):
  from configs import alexnet
  config = alexnet.get_config("data=imagenette")
  config.data.crop, config.data.shorter_side, config.data.threads = 67, 72, 2
  config.model.fc_units = 1024  # a small AlexNet
  config.batch_size = config.eval_batch_size = 4
  config.num_epochs = 1
  return override(config, **overrides)


def test_training_streams_imagenette(tmp_path):
  with tfds.testing.mock_data(num_examples=10):
    result = train.train_and_evaluate(_alexnet_config(), str(tmp_path))
  record = metrics.read(str(tmp_path))[0]
  assert record["step"] == 2 and 0 <= record["test_accuracy"] <= 1
  assert np.isfinite(record["train_loss"]) and result["data_source"] == "tfds"


def test_streamed_dataset_config_errors():
  from configs import lenet5
  from lenet_jax.runs import validation
  with pytest.raises(ConfigError, match="only mnist has embedded digits"):
    data.validate(_alexnet_config(**{"data.source": "embedded"}).data)
  with pytest.raises(ConfigError, match="data.crop=300"):
    data.validate(_alexnet_config(**{"data.crop": 300}).data)
  with_sdlm = _alexnet_config(optimizer="sdlm")  # a config with both families' sections
  with with_sdlm.unlocked():
    with_sdlm.sdlm = lenet5.get_config().sdlm
  with pytest.raises(ConfigError, match="SDLM needs a resident dataset"):
    validation.validate(with_sdlm)
  config = _alexnet_config()
  with pytest.raises(UserError, match="streamed during training"):
    data.load(config.data, validation.validate(config))
  assert tiny_config().data.name == "mnist"  # resident datasets are untouched


def test_missing_imagenet_is_one_line_naming_the_manual_download(tmp_path):
  with pytest.raises(UserError, match="downloads/manual"):
    streaming.open_source("imagenet2012", "train", str(tmp_path))


def test_worker_processes_give_the_same_batches():
  from absl import flags
  flags.FLAGS.mark_as_parsed()  # grain's workers read absl flags (lenet_jax.main parses them)
  rng = np.random.default_rng(0)
  source = [{"image": rng.integers(0, 256, (50 + i, 60, 3), np.uint8), "label": i}
            for i in range(12)]
  batches = [list(streaming.Stream(source, 4, train=True, seed=3, threads=1, shorter_side=40,
                                   crop=32, workers=workers).epoch(2)) for workers in (0, 1)]
  assert len(batches[0]) == len(batches[1]) == 3
  for (a_images, a_labels), (b_images, b_labels) in zip(*batches):
    np.testing.assert_array_equal(a_images, b_images)
    np.testing.assert_array_equal(a_labels, b_labels)

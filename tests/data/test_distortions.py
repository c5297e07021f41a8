import jax
import jax.numpy as jnp
import numpy as np

from lenet_jax.data import distortions, preprocess
from lenet_jax.models import sampling


def _images():
  return sampling.uniform(jax.random.key(0), (4, 32, 32, 1))


def test_zero_range_is_identity():
  x = _images()
  np.testing.assert_array_equal(distortions.distort(jax.random.key(1), x), x)


def test_shape_dtype_and_randomness():
  x = _images()
  y = distortions.distort(jax.random.key(1), x, translate=2.0, scale=0.1, squeeze=0.1, shear=0.2)
  assert y.shape == x.shape and y.dtype == x.dtype
  assert not np.allclose(y, x)
  other = distortions.distort(jax.random.key(2), x, translate=2.0, scale=0.1, squeeze=0.1,
                              shear=0.2)
  assert not np.allclose(y, other)  # the key decides the transform


def test_integer_translation_shifts_pixels():
  x = jnp.zeros((1, 8, 8, 1)).at[0, 3, 4, 0].set(1.0)
  a = jnp.eye(2)[None]
  y = distortions.apply(x, a, jnp.array([[1.0, -2.0]]))  # output (r, c) reads input (r+1, c-2)
  assert y[0, 2, 6, 0] == 1.0 and float(y.sum()) == 1.0


def test_training_with_distortions_runs(tmp_path):
  from conftest import tiny_config
  from lenet_jax.runs import metrics
  from lenet_jax.training import train
  config = tiny_config(**{"distortions.enabled": True})
  train.train_and_evaluate(config, str(tmp_path))
  # 0.93 here; 0.17 with translations 10x their range, 0.11 with the distorted images
  # one place off their labels (experiments/accuracy_floors)
  assert metrics.read(str(tmp_path))[0]["test_accuracy"] > 0.6


def _dot(r, c, size=9):
  return jnp.zeros((1, size, size, 1)).at[0, r, c, 0].set(1.0)


def _moved_to(x, a, t=(0.0, 0.0)):
  """The output pixel that reads the lit pixel of `x` exactly (a magnifying transform
  also spreads part of it over neighbours by bilinear interpolation)."""
  y = np.asarray(distortions.apply(x, jnp.asarray(a)[None], jnp.array([t]))[0, ..., 0])
  (hit,) = np.argwhere(y == 1.0)
  return tuple(int(i) for i in hit)


# 9x9 images: the centre is pixel (4, 4); offsets below are from it.
def test_scaling_moves_points_away_from_the_centre_by_the_zoom():
  a = distortions.affine_matrix(jnp.array(0.5), jnp.array(1.0), jnp.array(0.0))
  assert _moved_to(_dot(5, 6), a) == (6, 8)  # offset (1, 2) read from (2, 4): twice as far


def test_squeezing_compresses_rows_and_stretches_columns():
  a = distortions.affine_matrix(jnp.array(1.0), jnp.array(2.0), jnp.array(0.0))
  assert _moved_to(_dot(6, 5), a) == (5, 6)  # input offset (2, 1) -> output (1, 2)


def test_horizontal_shearing_shifts_columns_by_the_row():
  a = distortions.affine_matrix(jnp.array(1.0), jnp.array(1.0), jnp.array(1.0))
  assert _moved_to(_dot(6, 7), a) == (6, 5)  # input offset (2, 3) -> output (2, 1)
  assert _moved_to(_dot(4, 7), a) == (4, 7)  # the centre row does not move


def test_translation_by_whole_pixels():
  assert _moved_to(_dot(3, 4), jnp.eye(2), (1.0, -2.0)) == (2, 6)


def test_random_draws_stay_in_their_ranges():
  a, t = distortions.random_affine(jax.random.key(0), 1000, translate=2.0, scale=0.1,
                                   squeeze=0.2, shear=0.15)
  assert float(jnp.abs(t).max()) <= 2.0 and float(jnp.abs(t).max()) > 1.9
  s_q, s_over_q, s_h = a[:, 0, 0], a[:, 1, 1], a[:, 1, 0]
  s = jnp.sqrt(s_q * s_over_q)
  q = jnp.sqrt(s_q / s_over_q)
  assert float(jnp.abs(s - 1).max()) <= 0.1 + 1e-6 and float(jnp.abs(q - 1).max()) <= 0.2 + 1e-6
  assert float(jnp.abs(s_h / s).max()) <= 0.15 + 1e-6 and float(a[:, 0, 1].max()) == 0.0


def test_fixed_protocol_keeps_the_originals_and_adds_copies():
  images = (255 * sampling.uniform(jax.random.key(0), (5, 28, 28, 1))).astype(jnp.uint8)
  labels = jnp.arange(5)
  padded = preprocess.pad(images, 32)
  made, tiled = distortions.fixed_copies(jax.random.key(1), padded, labels, 3,
                                         {"translate": 2.0, "scale": 0.1, "squeeze": 0.1,
                                          "shear": 0.15})
  assert made.shape == (20, 32, 32, 1) and made.dtype == jnp.uint8
  np.testing.assert_array_equal(made[:5, 2:30, 2:30], images)  # the originals, padded
  np.testing.assert_array_equal(tiled, jnp.tile(labels, 4))
  assert not np.array_equal(made[5:10], made[:5]) and not np.array_equal(made[5:10], made[10:15])


def test_training_with_the_fixed_protocol_makes_the_set_once(tmp_path):
  from conftest import tiny_config
  from lenet_jax.runs import validation
  from lenet_jax.runs import metrics
  from lenet_jax.training import train
  config = tiny_config(**{"distortions.enabled": True, "distortions.protocol": "fixed",
                          "distortions.copies": 1})
  run = train.setup(config, str(tmp_path), validation.validate(config))
  assert run.train_labels.shape[0] == 8000 and run.task.distortion_ranges is None
  train.train_and_evaluate(config, str(tmp_path))
  assert metrics.read(str(tmp_path))[0]["step"] == 8000 // 50


def test_elastic_field_is_smooth_and_scaled_by_alpha():
  field = distortions.elastic_field(jax.random.key(0), 2, 32, 32, alpha=34.0, sigma=4.0)
  assert field.shape == (2, 2, 32 * 32)
  rows = np.asarray(field).reshape(2, 2, 32, 32)
  # Smoothed: neighbouring pixels move almost together; unsmoothed noise would not.
  step = np.abs(np.diff(rows, axis=-1)).mean()
  assert step < 0.2 * np.abs(rows).mean()
  doubled = distortions.elastic_field(jax.random.key(0), 2, 32, 32, alpha=68.0, sigma=4.0)
  np.testing.assert_allclose(doubled, 2 * field, rtol=1e-5, atol=1e-6)


def test_elastic_displacement_moves_a_dot_by_the_field():
  # A constant field of (1, -2) reads each output pixel 1 row down and 2 columns left.
  x = jnp.zeros((1, 8, 8, 1)).at[0, 3, 4, 0].set(1.0)
  field = jnp.tile(jnp.array([1.0, -2.0])[None, :, None], (1, 1, 64))
  y = distortions.apply(x, jnp.eye(2)[None], jnp.zeros((1, 2)), field)
  assert np.argwhere(np.asarray(y[0, ..., 0]) > 0.99).tolist() == [[2, 6]]


def test_elastic_option_leaves_the_affine_draws_as_they_were():
  x = _images()
  ranges = dict(translate=2.0, scale=0.1, squeeze=0.1, shear=0.2)
  affine = distortions.distort(jax.random.key(3), x, **ranges)
  a, t = distortions.random_affine(jax.random.key(3), 4, **ranges)
  np.testing.assert_array_equal(affine, distortions.apply(x, a, t))
  elastic = distortions.distort(jax.random.key(3), x, elastic_alpha=34.0, **ranges)
  assert not np.allclose(elastic, affine)
  assert distortions.ranges_of({**ranges, "elastic_alpha": 34, "elastic_sigma": 4}) == {
      **ranges, "elastic_alpha": 34.0, "elastic_sigma": 4.0}

"""Checks every config value a user can get wrong, each failing in one line, once: `validate`
returns what it resolved (`Resolved`), and everything after takes that object.

A model family's config holds only the sections and keys that act on it (configs/base.py
and the family's config); the sections one family has and another lacks (`sdlm`,
`distortions`, `eval`, `parallel`, the digits' `data.pad_to`, AlexNet's `data.resize` and
streaming keys) are looked for here, and resolved to what the run does without them.
"""

import dataclasses

import jax

from lenet_jax import data, models
from lenet_jax.models import registry
from lenet_jax.common.errors import ConfigError, check_choice, check_int, check_positive
from lenet_jax.data import preprocess
from lenet_jax.data.distortions import AFFINE, PROTOCOLS
from lenet_jax.data.specs import DatasetSpec
from lenet_jax.optim import optimizers

MESH_AXES = ("data", "model")
MESH_BACKENDS = ("shard_map", "pmap")

BOOLEANS = ("nesterov", "log_step_losses", "debug_nans", "learning_rate_per_sample",
            "distortions.enabled", "eval.ten_crop", "data.pca_lighting",
            "parallel.distributed", "model.conv2_rnorm")


@dataclasses.dataclass(frozen=True)
class Resolved:
  """What a valid config resolves to, for the rest of the code to take."""
  spec: DatasetSpec  # the dataset as this run sees it (a prepared set's classes and side)
  manifest: dict | None  # a prepared set's manifest, read once
  input_shape: tuple  # what the model sees, (height, width, channels)
  knobs: dict  # the model's 'auto' choices, resolved for this backend
  steps_per_scan: int  # train steps per compiled call
  pad_to: int  # resident images are padded to at least this side (no resize)
  resize: tuple | None  # (side, channels): resident images resized on the device
  digit_size: int  # > 0: digits fitted into a centred box of this side when loaded
  distortions: str | None  # None, 'online' (on the device, each step) or 'fixed' (made once)
  pca_lighting: bool  # the paper's colour augmentation (streamed and prepared input)
  ten_crop: bool  # evaluation on the paper's ten patches of a prepared set
  mesh: tuple  # (data, model) devices; (1, 1): one device
  distributed: bool  # several processes (jax.distributed)

  @property
  def crop(self) -> int | None:
    """The side a prepared set's stored images are cropped to on the device, else None."""
    return self.input_shape[0] if self.spec.stored_side else None


def validate(config) -> Resolved:
  """Checks every config value a user can get wrong; returns what they resolve to."""
  check_int("batch_size", config.batch_size)
  check_int("eval_batch_size", config.eval_batch_size)
  check_int("num_epochs", config.num_epochs)
  check_int("steps_per_scan", config.steps_per_scan, minimum=0)
  check_int("checkpoint_keep", config.checkpoint_keep)
  check_int("seed", config.seed, minimum=0)
  for key in ("checkpoint_secs", "progress_secs"):
    value = config[key]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
      raise ConfigError(key, value, "must be a number of seconds >= 0")
  for key in BOOLEANS:
    value = _find(config, key)
    if value is not None and not isinstance(value, bool):
      raise ConfigError(key, value, "must be True or False")
  distortions = _distortions(config)
  spec, manifest = data.validate(config.data)
  ten_crop = "eval" in config and config.eval.ten_crop
  if ten_crop and not spec.stored_side:
    raise ConfigError("eval.ten_crop", True, "the ten patches are taken from a prepared set's "
                      "256x256 images: use --config.data.source=prepared")
  knobs = models.validate(config.model, spec.num_classes)
  optimizers.validate(config)
  mesh = _mesh(config)
  registry.of(config.model).check(config)
  resize = None
  if "resize" in config.data:
    check_int("data.resize", config.data.resize, minimum=32)
    check_int("data.channels", config.data.channels)
    resize = (config.data.resize, config.data.channels)
  # A config without data.pad_to (a family that takes the images as they come) pads nothing.
  pad_to = config.data.pad_to if "pad_to" in config.data else 0
  check_int("data.pad_to", pad_to, minimum=0,
            expected="must be an integer >= 1 (the side images are padded to), or 0 for none")
  if distortions == "fixed" and spec.streamed:
    raise ConfigError("distortions.protocol", "fixed", f"{spec.name} is streamed: a fixed "
                      "distorted set is made from a resident dataset")
  if config.optimizer == "sdlm" and spec.streamed:
    raise ConfigError("optimizer", "sdlm", f"SDLM needs a resident dataset, {spec.name} is "
                      "streamed; use sgd, adam or adamw")
  input_shape = preprocess.model_input_shape(spec, pad_to, None if spec.streamed else resize)
  return Resolved(
      spec=spec, manifest=manifest, input_shape=input_shape, knobs=knobs,
      steps_per_scan=steps_per_scan(config, knobs), pad_to=pad_to,
      resize=None if spec.streamed else resize,
      digit_size=config.data.digit_size if "digit_size" in config.data else 0,
      distortions=distortions,
      pca_lighting=bool(spec.streamed and config.data.pca_lighting),
      ten_crop=bool(ten_crop), mesh=mesh,
      distributed="parallel" in config and config.parallel.distributed)


def steps_per_scan(config, knobs: dict) -> int:
  """Steps compiled into one `lax.scan`; `config.steps_per_scan` 0 picks per backend and model.

  Accelerators scan 100 steps per dispatch. On a CPU, XLA runs its convolutions
  inside a loop body much slower than as separate dispatches (experiments/benchmarks
  measures it), so models that use them (AlexNet, a LeNet with
  `implementation='xla'`) dispatch one step at a time; a LeNet's matmul
  implementation has no convolution ops and scans 20 steps.
  """
  if config.steps_per_scan:
    return config.steps_per_scan
  if jax.default_backend() != "cpu":
    return 100
  return 20 if knobs.get("implementation") == "matmul" else 1


def _distortions(config) -> str | None:
  """The distortion protocol a config asks for, its section checked; None for none."""
  if "distortions" not in config:
    return None
  d = config.distortions
  for key in AFFINE + ("elastic_alpha",):  # elastic_alpha 0: no elastic field
    value = d[key]
    limit = 1.0 if key in ("scale", "squeeze") else float("inf")
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < limit:
      raise ConfigError(f"distortions.{key}", value,
                        "must be >= 0" + (" and < 1" if limit == 1.0 else ""))
  check_positive("distortions.elastic_sigma", d.elastic_sigma)
  check_choice("distortions.protocol", d.protocol, PROTOCOLS)
  check_int("distortions.copies", d.copies)
  return d.protocol if d.enabled else None


def _find(config, dotted):
  for part in dotted.split("."):
    if config is None or part not in config:
      return None
    config = config[part]
  return config


def _mesh(config) -> tuple[int, int]:
  """Checks the `parallel` section; returns the mesh's (data, model) sizes: (1, 1), one
  device, for a config without one (the LeNets')."""
  if "parallel" not in config:
    return 1, 1
  parallel = config.parallel
  check_choice("parallel.backend", parallel.backend, MESH_BACKENDS)
  for key in MESH_AXES:
    check_int(f"parallel.{key}", parallel[key])
  d, m = parallel.data, parallel.model
  if parallel.distributed:
    if parallel.backend != "shard_map":
      raise ConfigError("parallel.backend", parallel.backend,
                        "multi-host runs (parallel.distributed=True) use 'shard_map'")
    for key, minimum in (("num_processes", 0), ("process_id", -1)):
      check_int(f"parallel.{key}", parallel[key], minimum,
                f"must be an integer >= {minimum} ({minimum}: from the environment)")
  towers = models.towers(config.model)
  if d > 1 and m == 1 and towers > 1:  # the per-device code is one tower's
    raise ConfigError("parallel.model", m, f"data parallelism runs around the tower split: "
                      f"with {towers} towers use parallel.model={towers} (one tower a device; "
                      "the mesh needs data x model devices), or model.towers=1")
  if m > 1:
    if towers == 1:
      raise ConfigError("parallel.model", m, f"{config.model.name} has no towers to split over "
                        "devices; use 1")
    if m != towers:
      raise ConfigError("parallel.model", m,
                        f"must equal the model's {towers} towers (one tower a device)")
  available = jax.device_count()
  if d * m > available:
    raise ConfigError("parallel.data", d, f"a {d}x{m} mesh needs {d * m} devices, "
                      f"{available} exist (on CPU, XLA_FLAGS=--xla_force_host_platform_device_count=N)")
  for key in ("batch_size", "eval_batch_size"):
    if config[key] % d:
      raise ConfigError(key, config[key], f"must be divisible by parallel.data={d}")
  return d, m

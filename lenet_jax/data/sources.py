"""The data-source registry: each place images come from (`config.data.source`) is one
module that registers a `Source`, as each model family registers itself
(lenet_jax/models/registry.py); nothing else in the package lists the sources.

A source says which datasets it serves, where it finds them, and how it reads them:
whole splits into memory (a resident source: idx, tfds, embedded, synthetic), or batch by
batch (a streamed one: tfds's JPEGs, a prepared set); `folder` is only an input of
`lenet_jax.prepare`. `auto` tries the sources that offer themselves, in their `auto_order`.
"""

import dataclasses
from typing import Callable

from lenet_jax.common import registries
from lenet_jax.common.errors import ConfigError, UserError, check_choice


def _serves_all(spec) -> str | None:
  del spec
  return None


@dataclasses.dataclass(frozen=True)
class Source:
  """One source of images.

  name       config.data.source's value.
  serves(spec) -> None, or why it cannot serve that dataset (one line's end).
  locate(data_config, spec, splits) -> where it finds `splits` (a directory, a TFDS
             name, a package file); UserError when they are not there.
  load(data_config, spec, splits, location) -> {split: (uint8 images [N, H, W, C],
             int32 labels [N])}: whole splits in memory. None: it has no resident form.
  streams(config, resolved) -> (training stream, test stream), read batch by batch.
             None: it has no streamed form.
  auto_order  `auto` tries it at this place (lower first); None: never.
  available(data_config, spec, splits) -> whether `auto` may take it here, now.
  streaming_keys  reads the streaming keys (data.crop, data.threads, ...) of an AlexNet config.
  """
  name: str
  locate: Callable
  serves: Callable = _serves_all
  load: Callable | None = None
  streams: Callable | None = None
  auto_order: int | None = None
  available: Callable = lambda data_config, spec, splits: False  # noqa: E731
  streaming_keys: bool = False


_SOURCES: dict = {}
AUTO = "auto"


def register(source: Source) -> None:
  _SOURCES[source.name] = source


def _discover() -> None:
  """Imports every module of lenet_jax/data once (the source modules register
  themselves)."""
  registries.import_every_module("lenet_jax.data")


def names() -> tuple:
  _discover()
  return (AUTO,) + tuple(sorted(_SOURCES))


def get(name: str) -> Source:
  """The source registered as `name`; ConfigError on an unknown name."""
  check_choice("data.source", name, names())
  return _SOURCES[name]


def check(data_config, spec) -> None:
  """ConfigError when the chosen source cannot serve the dataset."""
  if data_config.source == AUTO:
    return
  reason = get(data_config.source).serves(spec)
  if reason:
    raise ConfigError("data.source", data_config.source, reason)


def choose(data_config, spec, splits) -> tuple[Source, str]:
  """(the source, where it finds `splits`): the configured one, or for `auto` the first
  that offers itself; one UserError when none can."""
  if data_config.source != AUTO:
    source = get(data_config.source)
    return source, source.locate(data_config, spec, splits)
  _discover()
  for source in sorted((s for s in _SOURCES.values() if s.auto_order is not None),
                       key=lambda s: s.auto_order):
    if not source.serves(spec) and source.available(data_config, spec, splits):
      return source, source.locate(data_config, spec, splits)
  if spec.idx:
    hint = (" (Debian: apt-get install dataset-fashion-mnist)" if spec.name == "fashion_mnist"
            else "")
    raise UserError(f"no copy of {spec.name} found{hint}: no IDX files in config.data.dir, no "
                    "prepared TFDS copy and no network; pass --config.data.dir=DIR with the files")
  raise UserError(f"no copy of {spec.name} found: no prepared TFDS copy and no network; prepare "
                  f"it with TFDS where there is network ({spec.tfds_name}) and pass "
                  "--config.data.tfds_data_dir=DIR")

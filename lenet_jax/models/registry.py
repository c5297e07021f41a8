"""The model registry: each model family registers, by the name `config.model.name`
takes, how it is checked, resolved and built from its config section.

Adding a model is a module that calls `register` (imported by `lenet_jax.models`) and a
config file that names it; nothing else chooses models.
"""

import dataclasses
from typing import Callable

from lenet_jax.common.errors import check_choice


@dataclasses.dataclass(frozen=True)
class Family:
  """One registered model.

  validate(model_config, num_classes): raises ConfigError for a bad value.
  resolve(model_config): the section's 'auto' choices made for this backend, a dict of
    the knobs `build` takes (e.g. LeNet's implementation).
  build(model_config, knobs, input_shape, num_classes, rngs): the nnx.Module.
  loss(model_config): the training criterion (logits, labels) -> mean loss.
  staged_digits: one of the 1998 paper's digit networks, built from LeNet-5's stages
    (SDLM's paper curvature, the matmul implementation apply to it).
  """
  name: str
  validate: Callable
  resolve: Callable
  build: Callable
  loss: Callable
  staged_digits: bool = False


_FAMILIES: dict = {}


def register(family: Family) -> None:
  _FAMILIES[family.name] = family


def names() -> tuple:
  return tuple(_FAMILIES)


def get(name: str) -> Family:
  """The family registered as `name`; ConfigError on an unknown name."""
  check_choice("model.name", name, names())
  return _FAMILIES[name]

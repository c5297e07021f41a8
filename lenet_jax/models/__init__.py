"""Models chosen by name (`config.model.name`) through one registry and its written contract
(`lenet_jax.models.registry`); each family module registers itself."""

from flax import nnx

from lenet_jax.common import random_streams
from lenet_jax.models import registry


def names() -> tuple:
  return registry.names()


def validate(model_config, num_classes: int) -> dict:
  """Checks `config.model`; returns its 'auto' choices resolved (the knobs `create` takes)."""
  family = registry.of(model_config)
  family.validate(model_config, num_classes)
  return family.resolve(model_config)


def create(model_config, knobs: dict, input_shape, num_classes: int, seed: int) -> nnx.Module:
  """The model `model_config.name` names, for the input, classes and resolved `knobs`
  (`validate`'s), initialised from `seed`."""
  return registry.of(model_config).build(model_config, knobs, tuple(input_shape), num_classes,
                                         nnx.Rngs(params=seed + random_streams.PARAMS))


def loss(model_config):
  """The criterion the model is trained with: (logits, labels) -> mean loss."""
  return registry.of(model_config).loss(model_config)


def towers(model_config) -> int:
  """How many towers the model splits into over a mesh's `model` axis (1: none)."""
  return registry.of(model_config).towers(model_config)

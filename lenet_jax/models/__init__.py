"""Models chosen by name (`config.model.name`) through one registry
(`lenet_jax.models.registry`); each family module registers itself on import."""

from flax import nnx

# Each family registers itself on import, in this order (the order errors list them in).
from lenet_jax.models import lenet5  # noqa: F401, I001
from lenet_jax.models import early_lenets  # noqa: F401
from lenet_jax.models import alexnet  # noqa: F401
from lenet_jax.models import registry


def names() -> tuple:
  return registry.names()


def validate(model_config, num_classes: int) -> dict:
  """Checks `config.model`; returns its 'auto' choices resolved (the knobs `create` takes)."""
  family = registry.get(model_config.name)
  family.validate(model_config, num_classes)
  return family.resolve(model_config)


def create(model_config, knobs: dict, input_shape, num_classes: int, seed: int) -> nnx.Module:
  """The model `model_config.name` names, for the input, classes and resolved `knobs`
  (`validate`'s), initialised from `seed`."""
  family = registry.get(model_config.name)
  return family.build(model_config, knobs, tuple(input_shape), num_classes,
                      nnx.Rngs(params=seed))


def loss(model_config):
  """The criterion the model is trained with: (logits, labels) -> mean loss."""
  return registry.get(model_config.name).loss(model_config)


def staged_digits(model_config) -> bool:
  """Whether the model is one of the 1998 paper's digit networks (LeNet-5's stages)."""
  return registry.get(model_config.name).staged_digits

"""The model contract: what a model family gives lenet_jax, and what lenet_jax assumes of it.

A family is one module that calls `register(Family(...))` and one config file whose
`model.name` names it; nothing else in the package learns its name. The families of this
package are the modules of `lenet_jax/models/` (each imported once, on first use, in name
order); a family defined elsewhere is imported from the config's `model.module` (a Python
module name, recorded in the run's config.json, so that evaluate and predict find it too).

What a family provides (`Family`):
  name       config.model.name's value.
  build(model_config, knobs, input_shape, num_classes, rngs) -> nnx.Module
             The model for (height, width, channels) inputs and `num_classes` outputs,
             initialised from `rngs` (`nnx.Rngs(params=seed)`).
  validate(model_config, num_classes)  raises ConfigError for a bad model.* value [none]
  check(config)  checks that join the model with the rest of the config (the optimizer,
             the device mesh), ConfigError for a bad pair [none]
  resolve(model_config) -> dict  the 'auto' knobs made for this backend; `build` gets them
             [{}]
  loss(model_config) -> (logits, labels) -> mean loss  [softmax cross-entropy]
  towers(model_config) -> int  how many towers the module's layers split into, one a device
             of a mesh's `model` axis [1: none]
  legacy     {dotted key: value} for config keys the family added after runs were recorded:
             the value the code used before the key existed [{}]
  upgrade(flat) -> flat  a recorded config (flat, dotted keys) in today's keys, for a key the
             family renamed or a value it retired [unchanged]

What lenet_jax assumes of the module `build` returns:
  - `module(x, train=..., rngs=...)` maps float images [batch, height, width, channels] to
    float32 logits [batch, num_classes]; `rngs` is a key (or None) for dropout in training.
  - Its trainable values are `nnx.Param`s (what the optimizer updates and checkpoints hold).
    Values that training changes otherwise (`nnx.BatchStat`: BatchNorm's running statistics)
    are `TRAINED_STATE`: updated when the module runs with train=True, used with train=False,
    carried in the training state next to the parameters (checkpointed, one copy per seed,
    averaged over data-parallel devices). Any other `nnx.Variable` is a constant, rebuilt
    with the module and never checkpointed (LeNet-5's RBF prototypes).

What a module may add, each with what happens without it:
  - `stages()` -> [(name, stage)]: the paper's stages in order, each callable on the previous
    one's output and with `connections(in_shape, out_shape)` (the 1998 paper's count), for
    the summary table and SDLM's paper curvature (each stage then has `pre_activation`).
    Without: the table lists each layer that holds parameters, with its output shape
    (`lenet_jax.models.summary`), and SDLM's exact curvature only.
  - `features(x)` and a parameter-free `output` layer: SDLM's curvature is taken at the
    features, the output layer joining the loss (the RBF units). Without: at the logits.
  - `tower_forward(x, comm=..., train=..., rngs=...)`: one tower's computation under
    `jax.shard_map` or `jax.pmap` (towers > 1; `lenet_jax.training.parallel`).
"""

import dataclasses
import importlib
from typing import Callable

from flax import nnx

from lenet_jax.common import registries
from lenet_jax.common.errors import ConfigError, check_choice

TRAINED_STATE = nnx.BatchStat  # the nnx.Variable kinds that training changes besides Params


def _no_checks(*args) -> None:
  del args


def _cross_entropy(model_config):
  del model_config
  from lenet_jax.models import losses
  return losses.cross_entropy


@dataclasses.dataclass(frozen=True)
class Family:
  """One model family; see the module's docstring for each field."""
  name: str
  build: Callable
  validate: Callable = _no_checks
  check: Callable = _no_checks
  resolve: Callable = lambda model_config: {}  # noqa: E731
  loss: Callable = _cross_entropy
  towers: Callable = lambda model_config: 1  # noqa: E731
  legacy: dict = dataclasses.field(default_factory=dict)
  upgrade: Callable = lambda flat: flat  # noqa: E731


_FAMILIES: dict = {}


def register(family: Family) -> None:
  _FAMILIES[family.name] = family


def _discover() -> None:
  """Imports every module of lenet_jax/models once (the package's families register
  themselves)."""
  registries.import_every_module("lenet_jax.models")


def load_module(module: str) -> None:
  """Imports `model.module`, a family defined outside the package ('' : none)."""
  if not module:
    return
  try:
    importlib.import_module(module)
  except ImportError as e:
    raise ConfigError("model.module", module, f"cannot be imported ({e}); name an importable "
                      "Python module that registers the family") from None


def names() -> tuple:
  _discover()
  return tuple(sorted(_FAMILIES))


def get(name: str) -> Family:
  """The family registered as `name`; ConfigError on an unknown name."""
  check_choice("model.name", name, names())
  return _FAMILIES[name]


def of(model_config) -> Family:
  """The family `model_config` names (its `model.module` imported first, when set)."""
  load_module(model_config.module)
  return get(model_config.name)

"""The one place a model is chosen by name from a config."""

from flax import nnx

import jax
import jax.numpy as jnp

from lenet_jax.errors import ConfigError, check_choice, check_int
from lenet_jax.models import alexnet, early_lenets, lenet5

MODELS = ("lenet5", "lenet1", "lenet4", "alexnet")
# The 1998 paper's digit networks: LeNet-5 and its predecessors, built from the same stages.
LENETS = ("lenet5", "lenet1", "lenet4")
DTYPES = {"float32": jnp.float32, "bfloat16": jnp.bfloat16}


def validate(model_config, num_classes: int) -> None:
  """Raises ConfigError for any invalid `config.model` value."""
  check_choice("model.name", model_config.name, MODELS)
  if model_config.name in LENETS:
    check_choice("model.activation", model_config.activation, lenet5.ACTIVATION_NAMES)
    check_choice("model.pooling", model_config.pooling, lenet5.POOLINGS)
    check_choice("model.init", model_config.init, lenet5.INITS)
    check_choice("model.implementation", model_config.get("implementation", "auto"),
                 ("auto",) + lenet5.IMPLEMENTATIONS)
  if model_config.name == "lenet5":
    check_choice("model.c3", model_config.c3, lenet5.C3_CONNECTIONS)
    check_choice("model.output", model_config.output, lenet5.OUTPUTS)
    if model_config.output == "rbf" and num_classes > 10:
      raise ConfigError("model.output", "rbf",
                        f"the RBF prototypes cover 10 classes, the dataset has {num_classes}; use 'dense'")
  if model_config.name in ("lenet1", "lenet4"):
    # Their output layer is fully connected logits; the RBF units need LeNet-5's F6.
    check_choice("model.output", model_config.get("output", "dense"), ("dense",))
  if model_config.name == "lenet1":
    check_choice("model.c3", model_config.get("c3", "table"), early_lenets.LENET1_C3)
  if model_config.name == "lenet4":
    check_choice("model.c3", model_config.get("c3", "full"), ("full",))
    check_int("model.hidden", model_config.get("hidden", early_lenets.LENET4_HIDDEN))


  if model_config.name == "alexnet":
    check_choice("model.towers", model_config.towers, (1, 2))
    check_choice("model.dtype", model_config.dtype, tuple(DTYPES))
    check_choice("model.grouped_conv", model_config.grouped_conv, ("split", "feature_group"))
    check_choice("model.init", model_config.init, alexnet.INITS)
    check_int("model.channel_multiple", model_config.get("channel_multiple", 0), minimum=0,
              expected="must be an integer >= 1, or 0 for auto")
    check_choice("model.conv1", model_config.get("conv1", "auto"), ("auto",) + alexnet.CONV1_FORMS)
    check_choice("model.pool_gradient", model_config.get("pool_gradient", "select_and_scatter"),
                 alexnet.POOL_GRADIENTS)
    check_choice("model.lrn_dtype", model_config.get("lrn_dtype", "auto"),
                 ("auto",) + alexnet.LRN_DTYPES)
    check_choice("model.dropout_placement", model_config.get("dropout_placement", "paper"),
                 alexnet.DROPOUT_PLACEMENTS)
    check_choice("model.activation", model_config.get("activation", "relu"),
                 lenet5.ACTIVATION_NAMES)
    check_choice("model.lrn", model_config.get("lrn", "paper"), alexnet.LRNS)
    check_choice("model.pooling", model_config.get("pooling", "overlapping"), alexnet.POOLINGS)
    dropout = model_config.get("dropout", alexnet.DROPOUT)
    if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0 <= dropout < 1:
      raise ConfigError("model.dropout", dropout, "must be a rate in [0, 1): 0 turns it off")
    width = model_config.get("width", 1.0)
    if isinstance(width, bool) or not isinstance(width, (int, float)) or width <= 0:
      raise ConfigError("model.width", width, "must be a positive multiplier of the paper's "
                        "kernel counts (0.5: the paper's one-GPU net with towers=1)")
    if num_classes % model_config.towers:
      raise ConfigError("model.towers", model_config.towers,
                        f"the {num_classes} classes must split evenly over the towers")


def implementation(model_config) -> str:
  """A LeNet's resolved `model.implementation`: 'auto' is 'matmul' on a CPU, else 'xla'."""
  chosen = model_config.get("implementation", "auto")
  if chosen == "auto":
    return "matmul" if jax.default_backend() == "cpu" else "xla"
  return chosen


def channel_multiple(model_config) -> int:
  """AlexNet's resolved `model.channel_multiple`: 0 (auto) is 8 for bfloat16 on a
  GPU, where it measured faster (experiments/benchmarks), and 1 (no padding) else."""
  chosen = model_config.get("channel_multiple", 0)
  if chosen == 0:
    return 8 if _bf16_on_gpu(model_config) else 1
  return chosen


def _bf16_on_gpu(model_config) -> bool:
  return jax.default_backend() == "gpu" and model_config.dtype == "bfloat16"


def conv1_form(model_config) -> str:
  """AlexNet's resolved `model.conv1`: 'auto' is 'space_to_depth' on a GPU (+31% on an
  H200 at batch 256 in bfloat16, experiments/benchmarks), 'strided' elsewhere."""
  chosen = model_config.get("conv1", "auto")
  if chosen == "auto":
    return "space_to_depth" if jax.default_backend() == "gpu" else "strided"
  return chosen


def lrn_dtype(model_config) -> str:
  """AlexNet's resolved `model.lrn_dtype`: 'auto' sums the LRN's squares in the compute
  dtype for bfloat16 on a GPU (+2%, experiments/benchmarks), in float32 elsewhere."""
  chosen = model_config.get("lrn_dtype", "auto")
  if chosen == "auto":
    return "compute" if _bf16_on_gpu(model_config) else "float32"
  return chosen


def create(model_config, input_shape, num_classes: int, seed: int) -> nnx.Module:
  """Builds the model named by `model_config.name` for the given input and classes."""
  validate(model_config, num_classes)
  rngs = nnx.Rngs(params=seed)
  if model_config.name in LENETS:
    shared = dict(input_shape=input_shape, num_classes=num_classes,
                  activation=model_config.activation, pooling=model_config.pooling,
                  init=model_config.init, implementation=implementation(model_config),
                  rngs=rngs)
    if model_config.name == "lenet5":
      return lenet5.LeNet5(c3=model_config.c3, output=model_config.output, **shared)
    if model_config.name == "lenet1":
      return early_lenets.LeNet1(c3=model_config.get("c3", "table"), **shared)
    return early_lenets.LeNet4(
        hidden=model_config.get("hidden", early_lenets.LENET4_HIDDEN), **shared)
  if model_config.name == "alexnet":
    return alexnet.AlexNet(
        input_shape=input_shape, num_classes=num_classes, towers=model_config.towers,
        dtype=DTYPES[model_config.dtype], grouped_conv=model_config.grouped_conv,
        init=model_config.init, channel_multiple=channel_multiple(model_config),
        conv1=conv1_form(model_config),
        pool_gradient=model_config.get("pool_gradient", "select_and_scatter"),
        lrn_dtype=lrn_dtype(model_config),
        dropout_placement=model_config.get("dropout_placement", "paper"),
        activation=model_config.get("activation", "relu"),
        lrn_kind=model_config.get("lrn", "paper"),
        pooling=model_config.get("pooling", "overlapping"),
        dropout=model_config.get("dropout", alexnet.DROPOUT),
        width=model_config.get("width", 1.0), rngs=rngs)
  raise AssertionError(model_config.name)

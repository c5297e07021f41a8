"""A model family defined outside lenet_jax, as a researcher adds one: this module and a
config file (tiny_mlp_config.py beside it) and nothing else. A two-layer perceptron with
BatchNorm: parameters, and state that training changes (the model contract,
lenet_jax/models/registry.py)."""

from flax import nnx

from lenet_jax.models import registry


class TinyMLP(nnx.Module):
  """Flatten, a hidden layer with BatchNorm and ReLU, the logits."""

  def __init__(self, input_shape, num_classes, hidden, rngs):
    inputs = input_shape[0] * input_shape[1] * input_shape[2]
    self.hidden = nnx.Linear(inputs, hidden, rngs=rngs)
    self.norm = nnx.BatchNorm(hidden, momentum=0.9, rngs=rngs)
    self.logits = nnx.Linear(hidden, num_classes, rngs=rngs)

  def __call__(self, x, *, train=False, rngs=None):
    del train, rngs  # BatchNorm follows nnx's train()/eval(); no dropout
    x = x.reshape(x.shape[0], -1)
    return self.logits(nnx.relu(self.norm(self.hidden(x))))


registry.register(registry.Family(
    "tiny_mlp",
    build=lambda model_config, knobs, input_shape, num_classes, rngs: TinyMLP(
        input_shape, num_classes, model_config.hidden, rngs)))

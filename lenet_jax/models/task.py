"""A model, its loss and its input preparation, as pure functions of its variables.

The model is split once into a graph definition and three kinds of values (the model
contract, `lenet_jax.models.registry`): its parameters (`nnx.Param`), the state training
changes besides them (`registry.TRAINED_STATE`: BatchNorm's running statistics) and its
constants (anything else, rebuilt with the model). A model's *variables* are the first two,
`{"params", "model_state"}` ("model_state" only for a model that has such state); the
training state carries them under the same keys, so every function here takes either.
"""

import jax
import jax.numpy as jnp
from flax import nnx

from lenet_jax import models
from lenet_jax.data import crops, distortions, preprocess
from lenet_jax.models import registry


def _shapes(tree):
  return jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype), tree)


class Task:
  """A model, its loss and its input preparation, as pure functions of its variables."""

  def __init__(self, config, resolved, *, draw_params: bool = True):
    """`resolved`: `lenet_jax.runs.validation.validate(config)`'s result.

    `draw_params=False`: the variables hold only their shapes and dtypes
    (jax.ShapeDtypeStruct), for a task whose values come from a checkpoint or a file;
    drawing them (AlexNet's 61M) would be thrown away. A model with constants (the 1998
    network's fixed RBF codes, which no checkpoint holds) is built whole, and its
    variables are then set aside the same way."""
    self.config = config
    self.resolved = resolved
    self.spec = resolved.spec
    self.input_shape = resolved.input_shape
    if draw_params:
      model = self._create(config.seed)
    else:
      model = nnx.eval_shape(lambda: self._create(config.seed))
      if jax.tree.leaves(nnx.state(model, nnx.Not(nnx.Any(nnx.Param, registry.TRAINED_STATE)))):
        model = self._create(config.seed)  # constants are not restored: they must be real
    # A parameter-free output layer after `features` (LeNet-5's RBF units) belongs to the
    # loss for SDLM's curvature (the model contract).
    output = getattr(model, "output", None)
    self.output_is_fixed = (hasattr(model, "features") and output is not None
                            and not jax.tree.leaves(nnx.state(output, nnx.Param)))
    self.graphdef, self.params, self.model_state, self.rest = nnx.split(
        model, nnx.Param, registry.TRAINED_STATE, ...)
    self.has_model_state = bool(jax.tree.leaves(self.model_state))
    if not draw_params:
      self.params, self.model_state = _shapes(self.params), _shapes(self.model_state)
    self.loss_fn = models.loss(config.model)
    self.normalization = config.data.normalization
    self.pca_lighting = resolved.pca_lighting
    # A prepared set's fixed-size images are cropped here, on the device.
    self.crop = resolved.crop
    self.ten_crop = resolved.ten_crop
    self.distortion_ranges = None
    if resolved.distortions == "online":
      self.distortion_ranges = distortions.ranges_of(config.distortions)

  def _create(self, seed: int):
    return models.create(self.config.model, self.resolved.knobs, self.input_shape,
                         self.spec.num_classes, seed)

  def variables(self, state=None) -> dict:
    """The model's variables in `state` (a training state, or any dict of them; default:
    the task's own, those of `config.seed`, or their shapes: `draw_params=False`)."""
    if state is None:
      state = {"params": self.params, "model_state": self.model_state}
    if self.has_model_state:
      return {"params": state["params"], "model_state": state["model_state"]}
    return {"params": state["params"]}

  def init_variables(self, seed: int) -> dict:
    """The variables `seed` initialises."""
    _, params, model_state, _ = nnx.split(self._create(seed), nnx.Param,
                                          registry.TRAINED_STATE, ...)
    return self.variables({"params": params, "model_state": model_state})

  def model(self, variables, train: bool = False):
    """The module with `variables`, in training or evaluation mode (nnx's train()/eval():
    BatchNorm's running statistics updated, or used)."""
    model_state = variables["model_state"] if self.has_model_state else self.model_state
    # With state the call updates, the module gets Variables of its own (a Variable made
    # outside a trace cannot be updated inside one: under grad, jit, vmap).
    model = nnx.merge(self.graphdef, variables["params"], model_state, self.rest,
                      copy=self.has_model_state)
    model.train() if train else model.eval()
    return model

  def prepare(self, images, distortion_key=None, lighting_key=None):
    return preprocess.prepare(images, self.spec, self.normalization,
                              min_size=self.resolved.pad_to,
                              distortion_key=distortion_key,
                              distortion_ranges=self.distortion_ranges,
                              resize=self.resolved.resize, lighting_key=lighting_key,
                              channel_order=self.config.data.channel_order,
                              pixel_mean=tuple(self.config.data.pixel_mean))

  def _params_only(self, params):
    """Variables of `params` for SDLM's curvature (a model whose trained state is
    SDLM's to refuse: the curvature is taken with it fixed)."""
    return self.variables({"params": params, "model_state": self.model_state})

  def curvature_outputs(self, params, images):
    """The outputs SDLM's Gauss-Newton diagonal is taken at (see `curvature_loss`)."""
    model = self.model(self._params_only(params))
    x = self.prepare(images)
    return model.features(x) if self.output_is_fixed else model(x)

  def curvature_stages(self, params):
    """The stages from the input to `curvature_outputs`, for SDLM's paper estimate."""
    stages = [stage for _, stage in self.model(self._params_only(params)).stages()]
    return stages[:-1] if self.output_is_fixed else stages

  def curvature_loss(self, outputs, labels):
    """The loss as a function of `curvature_outputs`.

    A parameter-free output layer (the RBF units) is part of the loss here, as
    in the paper: the RBF penalties are quadratic in F6's states, so the loss's
    Hessian is taken with respect to those 84 states. (With respect to the 10
    penalties it vanishes wherever the MAP term's "rubbish class" dominates.)
    """
    if self.output_is_fixed:  # a layer without parameters: shapes-only params serve
      outputs = self.model(self.variables()).output(outputs)
    return self.loss_fn(outputs, labels)

  def _inputs(self, images, train, rngs):
    """(prepared images, the key left for the model): training draws distortions and
    colour augmentation first."""
    distortion_key = lighting_key = None
    if self.crop is not None and train:
      crop_key, rngs = jax.random.split(rngs)
      images = crops.random_crop_flip(crop_key, images, self.crop)
    elif self.crop is not None:
      images = crops.center_crop(images, self.crop)
    if train and self.distortion_ranges is not None:
      distortion_key, rngs = jax.random.split(rngs)
    if train and self.pca_lighting:
      lighting_key, rngs = jax.random.split(rngs)
    return self.prepare(images, distortion_key, lighting_key), rngs

  def apply(self, variables, images, *, train=False, rngs=None, comm=None):
    """(logits, the model's trained state after the call) of uint8 `images`; `comm`: one
    tower of a mesh (`tower_forward`, under shard_map or pmap; see
    lenet_jax.training.parallel)."""
    x, rngs = self._inputs(images, train, rngs)
    model = self.model(variables, train)
    if comm is None:
      logits = model(x, train=train, rngs=rngs)
    else:
      logits = model.tower_forward(x, comm=comm, train=train, rngs=rngs)
    return logits, nnx.state(model, registry.TRAINED_STATE)

  def tower_logits(self, variables, images, *, comm, train=False, rngs=None):
    """Per-tower (logits, trained state) (AlexNet), for use under shard_map or pmap."""
    return self.apply(variables, images, train=train, rngs=rngs, comm=comm)

  def loss_and_grads(self, variables, images, labels, key):
    """(mean loss, correct count, gradients of the parameters, the model's trained state
    after the step) of one batch on one device."""
    def loss_of(params):
      logits, model_state = self.apply(dict(variables, params=params), images, train=True,
                                       rngs=key)
      return self.loss_fn(logits, labels), (logits, model_state)

    (loss, (logits, model_state)), grads = jax.value_and_grad(loss_of, has_aux=True)(
        variables["params"])
    return loss, jnp.sum(jnp.argmax(logits, -1) == labels), grads, model_state

  def logits(self, variables, images, *, train=False, rngs=None):
    if self.ten_crop and not train:
      return self._ten_crop_log_probs(variables, images)
    return self.apply(variables, images, train=train, rngs=rngs)[0]

  def _ten_crop_log_probs(self, variables, images):
    """Log of the softmax averaged over the paper's ten patches (section 4.1): used as
    logits, its argmax, top-5 and cross-entropy are those of the averaged prediction."""
    patches = crops.ten_crops(images, self.crop)
    flat = patches.reshape((-1,) + patches.shape[2:])
    logits = self.model(variables)(self.prepare(flat), train=False)
    log_probs = jax.nn.log_softmax(logits.reshape(patches.shape[:2] + logits.shape[1:]), axis=-1)
    return jax.scipy.special.logsumexp(log_probs, axis=0) - jnp.log(patches.shape[0])


def init_state(task, tx, variables=None):
  """The training state at step 0, from `variables` (default: the task's own; shapes
  only, jax.ShapeDtypeStructs, give the state's shapes only)."""
  variables = task.variables() if variables is None else variables
  if any(isinstance(x, jax.ShapeDtypeStruct) for x in jax.tree.leaves(variables)):
    return jax.eval_shape(lambda v: init_state(task, tx, v), variables)
  return dict(variables, opt_state=tx.init(variables["params"]), step=jnp.zeros((), jnp.int32))

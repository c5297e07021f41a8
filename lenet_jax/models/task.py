"""A model, its loss and its input preparation, as pure functions of state."""

import jax
import jax.numpy as jnp
from flax import nnx

from lenet_jax import models
from lenet_jax.models import losses
from lenet_jax.data import crops, distortions, preprocess


class Task:
  """A model, its loss and its input preparation, as pure functions of state."""

  def __init__(self, config, resolved, *, draw_params: bool = True):
    """`resolved`: `lenet_jax.runs.validation.validate(config)`'s result.

    `draw_params=False`: `params` holds only the parameters' shapes and dtypes
    (jax.ShapeDtypeStruct), for a task whose parameters come from a checkpoint or a
    file; drawing them (AlexNet's 61M) would be thrown away. A model with other state
    (the 1998 network's fixed RBF codes, which no checkpoint holds) is built whole, and
    its parameters are then set aside the same way."""
    self.config = config
    self.resolved = resolved
    self.spec = resolved.spec
    self.input_shape = resolved.input_shape
    if draw_params:
      model = self._create(config.seed)
    else:
      model = nnx.eval_shape(lambda: self._create(config.seed))
      if jax.tree.leaves(nnx.state(model, nnx.Not(nnx.Param))):
        model = self._create(config.seed)  # state that is not restored must be real
    # A parameter-free output layer (LeNet-5's RBF units) belongs to the loss for SDLM.
    self.output_is_fixed = not jax.tree.leaves(nnx.state(getattr(model, "output", model),
                                                         nnx.Param))
    self.graphdef, self.params, self.rest = nnx.split(model, nnx.Param, ...)
    if not draw_params:
      self.params = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype), self.params)
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

  def init_params(self, seed: int):
    """The parameters `seed` initialises (the task's own are those of `config.seed`,
    or their shapes only: `draw_params=False`)."""
    return nnx.split(self._create(seed), nnx.Param, ...)[1]

  def model(self, params):
    return nnx.merge(self.graphdef, params, self.rest)

  def prepare(self, images, distortion_key=None, lighting_key=None):
    return preprocess.prepare(images, self.spec, self.normalization,
                              min_size=self.resolved.pad_to,
                              distortion_key=distortion_key,
                              distortion_ranges=self.distortion_ranges,
                              resize=self.resolved.resize, lighting_key=lighting_key,
                              channel_order=self.config.data.channel_order,
                              pixel_mean=tuple(self.config.data.pixel_mean))

  def curvature_outputs(self, params, images):
    """The outputs SDLM's Gauss-Newton diagonal is taken at (see `curvature_loss`)."""
    model = self.model(params)
    x = self.prepare(images)
    return model.features(x) if self.output_is_fixed else model(x)

  def curvature_stages(self, params):
    """The stages from the input to `curvature_outputs`, for SDLM's paper estimate."""
    stages = [stage for _, stage in self.model(params).stages()]
    return stages[:-1] if self.output_is_fixed else stages

  def curvature_loss(self, outputs, labels):
    """The loss as a function of `curvature_outputs`.

    A parameter-free output layer (the RBF units) is part of the loss here, as
    in the paper: the RBF penalties are quadratic in F6's states, so the loss's
    Hessian is taken with respect to those 84 states. (With respect to the 10
    penalties it vanishes wherever the MAP term's "rubbish class" dominates.)
    """
    if self.output_is_fixed:  # a layer without parameters: shapes-only params serve
      outputs = self.model(self.params).output(outputs)
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

  def tower_logits(self, params, images, *, comm, train=False, rngs=None):
    """Per-tower logits (AlexNet), for use under shard_map or pmap; see lenet_jax.parallel."""
    x, rngs = self._inputs(images, train, rngs)
    return self.model(params).tower_forward(x, comm=comm, train=train, rngs=rngs)

  def loss_and_grads(self, params, images, labels, key):
    """(mean loss, correct count, gradients) of one batch on one device."""
    def loss_of(p):
      logits = self.logits(p, images, train=True, rngs=key)
      return self.loss_fn(logits, labels), logits

    (loss, logits), grads = jax.value_and_grad(loss_of, has_aux=True)(params)
    return loss, jnp.sum(jnp.argmax(logits, -1) == labels), grads

  def logits(self, params, images, *, train=False, rngs=None):
    if self.ten_crop and not train:
      return self._ten_crop_log_probs(params, images)
    x, rngs = self._inputs(images, train, rngs)
    return self.model(params)(x, train=train, rngs=rngs)

  def _ten_crop_log_probs(self, params, images):
    """Log of the softmax averaged over the paper's ten patches (section 4.1): used as
    logits, its argmax, top-5 and cross-entropy are those of the averaged prediction."""
    patches = crops.ten_crops(images, self.crop)
    flat = patches.reshape((-1,) + patches.shape[2:])
    logits = self.model(params)(self.prepare(flat), train=False)
    log_probs = jax.nn.log_softmax(logits.reshape(patches.shape[:2] + logits.shape[1:]), axis=-1)
    return jax.scipy.special.logsumexp(log_probs, axis=0) - jnp.log(patches.shape[0])


def init_state(task, tx, params=None):
  """The training state at step 0, from `params` (default: the task's own; shapes only,
  jax.ShapeDtypeStructs, give the state's shapes only)."""
  params = task.params if params is None else params
  if any(isinstance(x, jax.ShapeDtypeStruct) for x in jax.tree.leaves(params)):
    return jax.eval_shape(lambda p: init_state(task, tx, p), params)
  return {"params": params, "opt_state": tx.init(params), "step": jnp.zeros((), jnp.int32)}

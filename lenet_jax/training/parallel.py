"""AlexNet's two-GPU split across real devices, with data parallelism around it.

A mesh has axes (`data`, `model`). Each device of the `model` axis holds one
tower's parameters (every parameter's leading `towers` axis is sharded over
`model`); each device of the `data` axis sees its share of the batch. The
per-tower code (`AlexNet.tower_forward`, all_gather over `model` where the GPUs
exchanged activations) is written once and wrapped by either

- `jax.shard_map` over a named mesh (default; JAX's recommended API), or
- `jax.pmap`, nested: data outside, model inside (`config.parallel.backend='pmap'`).

Only the loss and gradients run under the wrapper; the optimizer update runs
on the sharded global arrays under `jax.jit`.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import NamedSharding, PartitionSpec as P

from lenet_jax.common.errors import UserError

AXES = ("data", "model")


def sizes(config) -> tuple[int, int]:
  """(data, model) devices of the config's mesh; (1, 1), one device, for a config
  without a `parallel` section (the LeNets')."""
  if "parallel" not in config:
    return 1, 1
  return config.parallel.data, config.parallel.model


def is_parallel(config) -> bool:
  return sizes(config) != (1, 1)


def is_distributed(config) -> bool:
  return "parallel" in config and config.parallel.distributed


def initialize_distributed(config) -> None:
  """Joins a multi-host run (`config.parallel.distributed`).

  jax.distributed.initialize() reads SLURM, Open MPI, TPU and cloud
  environments, or JAX_COORDINATOR_ADDRESS, JAX_NUM_PROCESSES and
  JAX_PROCESS_ID; `parallel.coordinator_address`, `parallel.num_processes` and
  `parallel.process_id` set them explicitly (e.g. two processes on one machine).
  CPU processes talk through gloo. Must run before anything touches devices.
  """
  if not is_distributed(config):
    return
  parallel = config.parallel
  explicit = {key: parallel[key] for key in ("coordinator_address", "num_processes",
                                             "process_id")}
  explicit = {k: v for k, v in explicit.items() if v not in (None, "", -1)}
  jax.config.update("jax_cpu_collectives_implementation", "gloo")
  try:
    jax.distributed.initialize(**explicit)
  except RuntimeError as e:
    if "already" in str(e):  # a second run in the same process
      return
    raise UserError(f"jax.distributed.initialize({', '.join(f'{k}={v!r}' for k, v in explicit.items())}) "
                    f"failed: {str(e).splitlines()[0]}; check the coordinator address and that "
                    "every process was started") from None


def is_main_process() -> bool:
  """Process 0 writes files and prints; every process computes."""
  return jax.process_index() == 0


def replicated(config):
  """A function placing a host value, equal on every process, on every device of the
  mesh: global arrays the compiled steps take from any process."""
  sharding = NamedSharding(make_mesh(config), P())

  def place(x):
    if isinstance(x, jax.Array) and jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
      return jax.random.wrap_key_data(place(jax.random.key_data(x)),
                                      impl=jax.random.key_impl(x))
    return jax.make_array_from_process_local_data(sharding, np.asarray(x))

  return place


def make_mesh(config):
  d, m = sizes(config)
  return jax.make_mesh((d, m), AXES, axis_types=(jax.sharding.AxisType.Auto,) * 2,
                       devices=jax.devices()[: d * m])


def setup(task, config, state):
  """(state placed for the run, loss_and_grads): `loss_and_grads` is None on one device.

  With a mesh, the tower-parallel loss and gradients; under shard_map the state
  is sharded on the mesh as well (pmap moves it itself).
  """
  if not is_parallel(config):
    return state, None
  if config.parallel.backend == "shard_map":
    state = shard_state(state, make_mesh(config))
  return state, make_loss_and_grads(task, config)


def shard_state(state, mesh):
  """Places every array with a leading towers axis on `model`; scalars are replicated."""
  def place(x):
    spec = P("model") if getattr(x, "ndim", 0) > 0 else P()
    return jax.device_put(x, NamedSharding(mesh, spec))
  return jax.tree.map(place, state)


def rows_sharded(config):
  """A function placing this process's rows of a global batch on the mesh, split
  over `data` (streamed input: each process reads its own rows)."""
  sharding = NamedSharding(make_mesh(config), P("data"))
  return lambda x: jax.make_array_from_process_local_data(sharding, np.asarray(x))


class NamedAxes:
  """Collectives over the named mesh axes `data` and `model` (shard_map)."""

  def gather_towers(self, y):
    return jax.lax.all_gather(y, "model")

  def batch_rows(self, n):
    return jax.lax.axis_index("data") * n, n * jax.lax.axis_size("data")

  def mean_over_data(self, tree):
    return jax.lax.pmean(tree, "data")

  def grads_over_data(self, grads):
    # The parameters are replicated over `data`, so shard_map's autodiff has
    # already summed their gradients over it (the transpose of the implicit
    # broadcast); only the division is left.
    return jax.tree.map(lambda g: g / jax.lax.axis_size("data"), grads)

  def sum_over_data(self, x):
    return jax.lax.psum(x, "data")

  def same_over_towers(self, x):
    """`x` is equal on every tower; this makes that explicit to shard_map."""
    return jax.lax.pmax(x, "model")


class GroupedAxes:
  """The same collectives under one `jax.pmap` axis over d x m devices.

  Device k is data shard k // m, tower k % m; `axis_index_groups` restricts each
  collective to the devices of one data shard (towers) or of one tower (data).
  """

  AXIS = "devices"

  def __init__(self, d, m):
    self.d, self.m = d, m
    self.towers = [[i * m + j for j in range(m)] for i in range(d)]
    self.shards = [[i * m + j for i in range(d)] for j in range(m)]

  def gather_towers(self, y):
    return jax.lax.all_gather(y, self.AXIS, axis_index_groups=self.towers)

  def batch_rows(self, n):
    return (jax.lax.axis_index(self.AXIS) // self.m) * n, n * self.d

  def mean_over_data(self, tree):
    return jax.lax.pmean(tree, self.AXIS, axis_index_groups=self.shards)

  def grads_over_data(self, grads):
    return self.mean_over_data(grads)

  def sum_over_data(self, x):
    return jax.lax.psum(x, self.AXIS, axis_index_groups=self.shards)

  def same_over_towers(self, x):
    return x


def make_loss_and_grads(task, config):
  """(variables, images, labels, key) -> (loss, correct, grads, trained state), computed
  tower by tower.

  The loss is the mean over the global batch; gradients are averaged over the
  data shards and come back with the towers axis, like the parameters. A trained state
  (BatchNorm's statistics) is each tower's own; its batch statistics are averaged over
  the data shards inside the layer (`comm.mean_over_data`), so every shard keeps the
  same running statistics, those of the single-device network.
  """
  d, m = sizes(config)

  def per_device(comm, variables, images, labels, key):
    def loss_of(p):
      logits, model_state = task.tower_logits(dict(variables, params=p), images, comm=comm,
                                              train=True, rngs=key)
      # Every tower computes the same loss from the gathered logits; all_gather's
      # transpose sums the copies' cotangents, so each copy carries 1/m of it.
      return task.loss_fn(logits, labels) / m, (logits, model_state)

    (loss, (logits, model_state)), grads = jax.value_and_grad(loss_of, has_aux=True)(
        variables["params"])
    grads = comm.grads_over_data(grads)
    loss = comm.same_over_towers(comm.mean_over_data(loss * m))
    correct = comm.same_over_towers(comm.sum_over_data(jnp.sum(jnp.argmax(logits, -1) == labels)))
    return loss, correct, grads, model_state

  if config.parallel.backend == "shard_map":
    mesh = make_mesh(config)
    comm = NamedAxes()

    def loss_and_grads(variables, images, labels, key):
      specs = jax.tree.map(lambda _: P("model"), variables)
      fn = jax.shard_map(functools.partial(per_device, comm), mesh=mesh,
                         in_specs=(specs, P("data"), P("data"), P()),
                         out_specs=(P(), P(), specs["params"],
                                    jax.tree.map(lambda _: P("model"), task.model_state)))
      return fn(variables, images, labels, key)

    return loss_and_grads

  comm = GroupedAxes(d, m)
  mapped = jax.pmap(functools.partial(per_device, comm), axis_name=GroupedAxes.AXIS,
                    devices=jax.devices()[: d * m])

  def loss_and_grads(variables, images, labels, key):
    # Leading device axis k = i * m + j: tower j's variables, data shard i's rows.
    tiled = jax.tree.map(lambda p: jnp.tile(p, (d,) + (1,) * (p.ndim - 1))[:, None], variables)
    shard = lambda a: jnp.repeat(a.reshape((d, a.shape[0] // d) + a.shape[1:]), m, axis=0)
    keys = jnp.broadcast_to(key, (d * m,))
    loss, correct, grads, model_state = mapped(tiled, shard(images), shard(labels), keys)
    first = lambda tree: jax.tree.map(lambda g: g[:m, 0], tree)  # noqa: E731
    return loss[0], correct[0], first(grads), first(model_state)

  return loss_and_grads

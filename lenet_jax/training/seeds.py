"""The seed axis: several seeds of one config trained together by the training loop
(`lenet_jax.training.train`), one compiled program `jax.vmap`-ed over the parameters,
the optimizer state and the random keys.

Seed k of a run with `config.seed = s` is the run `lenet_jax.main` makes with
`config.seed = s + k`: the same initial parameters, the same data order (unless
`shared_order`, where every seed sees seed s's order) and the same dropout and
distortion keys, so its metrics equal the separate run's to float tolerance. With
one seed there is no axis: the run is the single run's computation, bitwise.

A seeded run's `workdir` holds config.json and checkpoints/ (every seed stacked, for
resume) and per seed a run directory `seed_<k>/` of its own: config.json with its
seed, metrics.jsonl, TensorBoard events and, once training ends, its final checkpoint.
"""

import dataclasses
import functools
import os
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import NamedSharding, PartitionSpec

from lenet_jax.common.errors import UserError
from lenet_jax.runs import run_record


def seed_dir(workdir: str, k: int) -> str:
  return os.path.join(workdir, run_record.SEED_DIR.format(k))


def seed_config(config, seed: int):
  """`config` with `seed` (a copy)."""
  config = config.copy_and_resolve_references()
  with config.unlocked():
    config.seed = seed
  return config


def check_seeds(num_seeds) -> None:
  if isinstance(num_seeds, bool) or not isinstance(num_seeds, int) or num_seeds < 1:
    raise UserError(f"--seeds={num_seeds!r} is invalid: must be an integer >= 1")


def seed_mesh(num_seeds: int, seed_devices: int = 1):
  """A mesh of `seed_devices` devices along a 'seeds' axis, or None for one device.

  0 picks the most devices of this host that divide the seeds evenly (8 GPUs, 16
  seeds: 2 per device). The vmapped seed axis is sharded over it: each device
  trains its seeds, in one program.
  """
  devices = jax.local_devices()
  if isinstance(seed_devices, bool) or not isinstance(seed_devices, int) or seed_devices < 0:
    raise UserError(f"--seed_devices={seed_devices!r} is invalid: an integer >= 0")
  n = seed_devices or max(d for d in range(1, len(devices) + 1) if num_seeds % d == 0)
  if n > len(devices) or num_seeds % n:
    raise UserError(f"--seed_devices={n} is invalid: {num_seeds} seeds must divide evenly over "
                    f"them, and this host has {len(devices)} devices")
  if n == 1:
    return None
  return jax.sharding.Mesh(np.array(devices[:n]), ("seeds",))


@dataclasses.dataclass(frozen=True)
class Seeds:
  """Which seeds a run trains and where each one's records go.

  `vmapped`: a leading seed axis on the state, the keys and every per-seed output (more
  than one seed); `run_dirs[k]`: seed k's run directory (the workdir itself for a
  single run); `by_seed`: places an array with the seed axis (sharded over a seed mesh).
  """
  seeds: tuple
  run_dirs: tuple
  vmapped: bool
  shared_order: bool
  by_seed: Callable  # places an array with the seed axis
  place: Callable  # places a value every seed shares

  @property
  def count(self) -> int:
    return len(self.seeds)

  def pick(self, tree, k: int):
    """Seed k's part of a tree with the seed axis (the tree itself without one), sliced
    on the host: an eager slice of a device array compiles a program for each leaf's
    shape and sharding."""
    if not self.vmapped:
      return tree
    return jax.tree.map(lambda x: jnp.asarray(np.asarray(x)[k]), tree)

  def per_seed(self, value, k: int):
    return np.asarray(value)[k] if self.vmapped else np.asarray(value)


def single(workdir: str, config, place) -> Seeds:
  """A single run: config.seed, recorded in `workdir`."""
  return Seeds(seeds=(config.seed,), run_dirs=(workdir,), vmapped=False, shared_order=False,
               by_seed=place, place=place)


def several(workdir: str, config, num_seeds: int, shared_order: bool,
            seed_devices: int) -> Seeds:
  """`num_seeds` seeds from config.seed, seed k recorded in `seed_dir(workdir, k)`."""
  check_seeds(num_seeds)
  mesh = seed_mesh(num_seeds, seed_devices) if num_seeds > 1 else None
  if mesh is None:
    place = by_seed = jax.device_put
  else:
    place = functools.partial(jax.device_put, device=NamedSharding(mesh, PartitionSpec()))
    by_seed = functools.partial(jax.device_put,
                                device=NamedSharding(mesh, PartitionSpec("seeds")))
  return Seeds(seeds=tuple(config.seed + k for k in range(num_seeds)),
               run_dirs=tuple(seed_dir(workdir, k) for k in range(num_seeds)),
               vmapped=num_seeds > 1, shared_order=shared_order, by_seed=by_seed, place=place)


def stack(trees):
  return jax.tree.map(lambda *xs: jnp.stack(xs), *trees)

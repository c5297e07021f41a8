"""A sweep's cells: a config file's `sweep(name)` lists override dicts, one per cell.

  def sweep(name):
    return {"ablations": cells.product({"model.activation": ["relu", "tanh"],
                                        "model.pooling": ["max", "avg"]})}[name]

Each cell is the file's config with the cell's overrides applied (dotted keys);
`lenet_jax.sweeps.sweep` trains every cell's seeds together.
"""

import copy
import difflib
import itertools
import re

from lenet_jax.common.errors import UserError
from lenet_jax.config import loading


def product(axes: dict) -> list[dict]:
  """{"a": [1, 2], "b": [x, y]} -> the 4 cells {"a": 1, "b": x}, ..., in row-major order."""
  keys = list(axes)
  return [dict(zip(keys, values)) for values in itertools.product(*(axes[k] for k in keys))]


def load(config_arg: str, name: str) -> list[dict]:
  """The cells of sweep `name` defined by the config file of `--config=path[:arg]`."""
  path = loading.split(config_arg)[0]
  module = loading.module(config_arg)
  if not hasattr(module, "sweep"):
    raise UserError(f"{path} defines no sweep(name); add one returning a list of override "
                    "dicts (see configs/lenet5.py)")
  try:
    cells = module.sweep(name)
  except KeyError as e:
    raise UserError(f"--sweep={name}: {path} has no sweep of that name ({e.args[0]})") from None
  if (not isinstance(cells, (list, tuple)) or not cells
      or not all(isinstance(c, dict) for c in cells)):
    raise UserError(f"{path}: sweep({name!r}) must return a non-empty list of override dicts")
  names = [cell_name(c) for c in cells]
  repeated = sorted({n for n in names if names.count(n) > 1})
  if repeated:
    raise UserError(f"{path}: sweep({name!r}) lists the cell {repeated[0]!r} more than once")
  return list(cells)


def apply(config, overrides: dict, where: str = "sweep cell"):
  """A copy of `config` with `overrides` ({"model.activation": "tanh", ...}) applied.

  An unknown key or a value of the wrong type is a UserError naming the cell.
  """
  config = copy.deepcopy(config)
  for key, value in overrides.items():
    target = config
    *path, leaf = key.split(".")
    for i, part in enumerate(path + [leaf]):
      if not hasattr(target, "keys") or part not in target:
        known = [".".join(path[:i] + [k]) for k in target.keys()] if hasattr(target, "keys") else []
        close = difflib.get_close_matches(key, known, n=1)
        raise UserError(f"{where} {cell_name(overrides)}: the config has no key {key!r}"
                        + (f" (did you mean {close[0]!r}?)" if close else ""))
      if i < len(path):
        target = target[part]
    try:
      target[leaf] = value
    except (TypeError, ValueError) as e:
      raise UserError(f"{where} {cell_name(overrides)}: {key}={value!r} does not fit the "
                      f"config's type ({e})") from None
  return config


def cell_name(overrides: dict) -> str:
  """'activation=tanh,pooling=max': the last part of each key, or the whole key where
  two keys share that last part."""
  last = [k.rsplit(".", 1)[-1] for k in overrides]
  parts = []
  for key, short in zip(overrides, last):
    label = short if last.count(short) == 1 else key
    parts.append(f"{label}={format_value(overrides[key])}")
  return ",".join(parts) or "base"


def cell_dir(overrides: dict) -> str:
  """A directory name for the cell: its name with characters unsafe in paths replaced."""
  return re.sub(r"[^A-Za-z0-9=,._+-]", "_", cell_name(overrides))


def format_value(value) -> str:
  if isinstance(value, (list, tuple)):
    return "-".join(map(format_value, value))
  if isinstance(value, float):
    return f"{value:g}"
  return str(value)

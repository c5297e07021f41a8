"""Loading config files: the one loader every command and the sweep runner use.

`--config=path/to/file.py[:ARGS]` names a Python file with `get_config(arg)` (and
optionally `sweep(name)`); ARGS is passed to `get_config`, which parses it strictly
(`lenet_jax.config.arguments`).
"""

import functools
import importlib.util
import os
import sys

import ml_collections

from lenet_jax.common.errors import UserError, first_line


def split(value: str) -> tuple[str, str]:
  """('path/file.py', 'ARGS') of a --config value."""
  path, _, arg = value.partition(":")
  return path, arg


def name(value: str) -> str:
  """The config file's name without folder and extension ('lenet5' for configs/lenet5.py:x)."""
  return os.path.splitext(os.path.basename(split(value)[0]))[0]


@functools.lru_cache(maxsize=None)
def _module(path: str):
  if not os.path.isfile(path):
    raise UserError(f"--config={path}: no such file {path!r} (run from the repository root, "
                    "e.g. --config=configs/lenet5.py)")
  # The configs import each other (`from configs import lenet5`): their folder's parent
  # must be importable, as it is from the repository root.
  root = os.path.dirname(os.path.dirname(os.path.abspath(path)))
  if root not in sys.path:
    sys.path.insert(0, root)
  spec = importlib.util.spec_from_file_location(f"_lenet_jax_config_{name(path)}", path)
  module = importlib.util.module_from_spec(spec)
  try:
    spec.loader.exec_module(module)
  except UserError:
    raise
  except SyntaxError as e:
    raise UserError(f"{e.filename}, line {e.lineno}: {e.msg}; fix the config file") from None
  except Exception as e:
    raise UserError(f"--config={path} could not be loaded ({first_line(e)})") from None
  return module


def module(value: str):
  """The config file's module (loaded once per process)."""
  return _module(os.path.normpath(split(value)[0]))


def get_config(value: str) -> ml_collections.ConfigDict:
  """`get_config(ARGS)` of the file in a --config value; one UserError for any failure."""
  mod = module(value)
  if not hasattr(mod, "get_config"):
    raise UserError(f"{split(value)[0]} defines no get_config(arg); it is not a config file")
  arg = split(value)[1]
  try:
    config = mod.get_config(arg) if arg else mod.get_config()
  except UserError:
    raise
  except Exception as e:
    raise UserError(f"--config={value}: get_config raised {first_line(e)}") from None
  if not isinstance(config, ml_collections.ConfigDict):
    raise UserError(f"--config={value}: get_config returned {type(config).__name__}, "
                    "not an ml_collections.ConfigDict")
  return config

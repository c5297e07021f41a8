"""Files written whole or not at all: each write goes to a temporary file beside the
target (named by the writing process, so that workers sharing a directory never collide)
and is renamed over it, so a reader or a crash sees the old file or the new one."""

import json
import os


def write_atomic(path: str, data, sync: bool = False) -> None:
  """Writes `data` (text, or bytes-like) to `path` whole; `sync` flushes it to the disk
  before the rename."""
  tmp = f"{path}.{os.getpid()}.tmp"
  try:
    with open(tmp, "w" if isinstance(data, str) else "wb") as f:
      f.write(data)
      if sync:
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
  except BaseException:
    if os.path.exists(tmp):
      os.remove(tmp)
    raise


def write_json(path: str, value, sync: bool = False, **dump_args) -> None:
  """`value` as JSON in `path`, whole (`dump_args`: json.dumps's, e.g. indent)."""
  write_atomic(path, json.dumps(value, **dump_args) + "\n", sync=sync)


def read_json(path: str, default=None):
  """The JSON value in `path`, or `default` when there is no such file."""
  if not os.path.isfile(path):
    return default
  with open(path) as f:
    return json.load(f)

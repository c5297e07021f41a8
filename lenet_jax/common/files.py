"""Files written whole or not at all: each write goes to a temporary file beside the
target (named by the writing process, so that workers sharing a directory never collide)
and is renamed over it, so a reader or a crash sees the old file or the new one."""

import json
import os
import tempfile

from lenet_jax.common.errors import UserError


def write_atomic(path: str, data, sync: bool = False, exclusive: bool = False) -> None:
  """Writes `data` (text, or bytes-like) to `path` whole; `sync` flushes it to the disk
  before the rename. `exclusive`: only if `path` does not exist yet, FileExistsError
  otherwise (of two processes writing at once, one wins and the other is told)."""
  tmp = f"{path}.{os.getpid()}.tmp"
  try:
    with open(tmp, "w" if isinstance(data, str) else "wb") as f:
      f.write(data)
      if sync:
        f.flush()
        os.fsync(f.fileno())
    if exclusive:
      os.link(tmp, path)  # fails where `path` exists, unlike a rename
      os.remove(tmp)
    else:
      os.replace(tmp, path)
  except BaseException:
    if os.path.exists(tmp):
      os.remove(tmp)
    raise


def write_json(path: str, value, sync: bool = False, exclusive: bool = False,
               **dump_args) -> None:
  """`value` as JSON in `path`, whole (`dump_args`: json.dumps's, e.g. indent; `exclusive`:
  write_atomic's)."""
  write_atomic(path, json.dumps(value, **dump_args) + "\n", sync=sync, exclusive=exclusive)


def read_json(path: str, default=None):
  """The JSON value in `path`, or `default` when there is no such file."""
  if not os.path.isfile(path):
    return default
  with open(path) as f:
    return json.load(f)


def _probe(directory: str) -> None:
  """Writes and removes a file in `directory` (permission bits do not tell: root ignores
  them, a read-only mount does not)."""
  fd, path = tempfile.mkstemp(prefix=".lenet_jax_probe_", dir=directory)
  os.close(fd)
  os.remove(path)


def writable_dir(path: str, flag: str) -> str:
  """Makes directory `path` if needed and checks that files can be written in it, before any
  work is done; one UserError naming `flag` ('--out') otherwise. Returns `path`."""
  try:
    os.makedirs(path, exist_ok=True)
    _probe(path)
  except OSError as e:
    what = ("is a file, not a directory" if os.path.isfile(path)
            else f"cannot be written ({e.strerror})")
    raise UserError(f"{flag}={path} {what}; choose a writable directory") from None
  return path


def writable_file(path: str, flag: str) -> str:
  """Checks that file `path` can be written (its folder made if needed) before any work is
  done; one UserError naming `flag` otherwise. Returns `path`."""
  if os.path.isdir(path):
    raise UserError(f"{flag}={path} is a directory; name a file")
  folder = os.path.dirname(os.path.abspath(path))
  try:
    os.makedirs(folder, exist_ok=True)
    _probe(folder)
  except OSError as e:
    raise UserError(f"{flag}={path} cannot be written ({e.strerror}); choose a writable "
                    "place") from None
  return path


def save_figure(fig, path: str, what: str = "", **savefig_args) -> None:
  """Renders a matplotlib figure into `path` whole (folders made) and closes it; a failure
  is one UserError naming `what` (the flag, '--out') or the path."""
  import io

  import matplotlib.pyplot as plt
  try:
    buffer = io.BytesIO()
    fig.savefig(buffer, format=os.path.splitext(path)[1][1:] or "png", **savefig_args)
    if os.path.dirname(path):
      os.makedirs(os.path.dirname(path), exist_ok=True)
    write_atomic(path, buffer.getvalue())
  except (OSError, ValueError) as e:
    reason = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
    raise UserError(f"cannot write {what + '=' if what else ''}{path} ({reason}); choose a "
                    "writable place with free space") from None
  finally:
    plt.close(fig)

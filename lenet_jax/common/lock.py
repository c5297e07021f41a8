"""One writer at a time in a directory tree: a run (lenet_jax.main, a sweep cell, a boosted
member), a sweep, a prepared set (lenet_jax.prepare), a boosted committee, an import.

A writer holds its directory, and with it the whole tree under it: a directory is refused
to a second writer while it is held, while a directory above it is held (a seed directory
inside a sweep being trained), and while a directory below it is held (the root of a
sweep one of whose cells `main` trains). Holders in this process never conflict (a boosted
committee trains its members inside its own directory).

Two kinds of hold:
- exclusive, `<directory>/lock.json`, created with O_CREAT | O_EXCL (atomic on local file
  systems and on NFS v3 and later): runs, prepared sets, committees, imports, and a sweep
  worker's claim of one cell;
- shared, `<directory>/lock.shared-<host>-<pid>-<token>.json`: the workers of one sweep
  hold its root together; their cell claims (exclusive, made `within` the root) do not
  conflict with the root's shared holders, and nothing else may write under the root.

Each lock file names its holder: host, pid, the process's start time, what it does and
since when. While held, a thread refreshes the file's time every `HEARTBEAT_S`. A lock
whose holder is gone is stale and is taken over without anyone cleaning up by hand: on the
same host, no process has that pid and start time (a SIGKILLed holder, a reused pid); on
another host, the file has not been refreshed for `timeout_s`. Taking a stale exclusive
lock over renames it away first, so that of two processes that find it stale only one
takes it. A writer creates its own lock file first and only then looks above and below
it, so that of two writers racing for nested directories at least one sees the other.

Readers (evaluate, predict, figures, plots) take no lock: they read finished checkpoints
only.
"""

import atexit
import glob
import json
import os
import socket
import threading
import time
import uuid

from lenet_jax.common import preemption
from lenet_jax.common.errors import UserError

LOCK = "lock.json"
SHARED_PATTERN = "lock.shared-*.json"
HEARTBEAT_S = 20.0
TIMEOUT_S = 300.0  # another host's lock not refreshed for this long is stale
UNREADABLE_S = 10.0  # a lock file that cannot be read (its holder killed writing it) after this
# Folders of a run that never hold a writer's lock: not searched for held directories.
NOT_SEARCHED = frozenset({"checkpoints", "checkpoints_unreadable", "checkpoint_digests"})
_HELD = {}  # (realpath of a directory, kind) -> [Lock, depth] held by this process


def _start_time(pid: int) -> str | None:
  """The process's start time in clock ticks since boot (Linux), to tell a reused pid."""
  try:
    with open(f"/proc/{pid}/stat") as f:
      return f.read().rsplit(")", 1)[1].split()[19]
  except (OSError, IndexError):
    return None


def _alive(pid: int, started: str | None) -> bool:
  try:
    os.kill(pid, 0)
  except ProcessLookupError:
    return False
  except PermissionError:  # someone else's process
    pass
  return started is None or _start_time(pid) in (None, started)


def owner(what: str) -> dict:
  pid = os.getpid()
  return {"host": socket.gethostname(), "pid": pid, "process_start": _start_time(pid),
          "what": what, "since": time.strftime("%Y-%m-%dT%H:%M:%S")}


def _read_file(path: str) -> dict | None:
  try:
    age = time.time() - os.path.getmtime(path)
    with open(path) as f:
      holder = json.load(f)
  except FileNotFoundError:
    return None
  except (OSError, ValueError):
    return {"unreadable": True, "age_s": age}
  if not isinstance(holder, dict):
    return {"unreadable": True, "age_s": age}
  holder["age_s"] = age
  return holder


def read(directory: str) -> dict | None:
  """The holder of `directory`'s exclusive lock (with its age in seconds), {'unreadable':
  True, 'age_s'} for a lock file being written (or left half-written), or None for none."""
  return _read_file(os.path.join(directory, LOCK))


def is_stale(holder: dict, timeout_s: float = TIMEOUT_S) -> bool:
  if holder.get("unreadable"):
    return holder["age_s"] > UNREADABLE_S
  if holder.get("host") == socket.gethostname():
    return not _alive(int(holder["pid"]), holder.get("process_start"))
  return holder["age_s"] > timeout_s


def _mine(holder: dict) -> bool:
  return (not holder.get("unreadable") and holder.get("host") == socket.gethostname()
          and holder.get("pid") == os.getpid())


def describe(holder: dict | None) -> str:
  """'lenet_jax.main (pid 123 on host, since 2026-12-06T04:00:00)'."""
  if not holder or holder.get("unreadable"):
    return "another process"
  return (f"{holder.get('what', 'a lenet_jax process')} (pid {holder.get('pid')} on "
          f"{holder.get('host')}, since {holder.get('since', '?')})")


class Lock:
  """A held lock; `release()` (or leaving the `with` block) lets it go, and removes the
  directory if taking the lock made it and nothing was written there since."""

  def __init__(self, directory: str, path: str, created: bool = False):
    self.directory = directory
    self.created = created
    self.path = path
    self.pid = os.getpid()
    self._stop = threading.Event()
    self._thread = threading.Thread(target=self._beat, daemon=True, name="lock_heartbeat")
    self._thread.start()

  def _beat(self):
    while not self._stop.wait(HEARTBEAT_S):
      try:
        os.utime(self.path)
      except OSError:
        return

  def release(self) -> None:
    for key, held in list(_HELD.items()):
      if held[0] is self:
        held[1] -= 1
        if held[1] > 0:
          return
        del _HELD[key]
    self._stop.set()
    try:
      os.remove(self.path)
      if self.created and not os.listdir(self.directory):
        os.rmdir(self.directory)
    except OSError:
      pass

  def __enter__(self):
    return self

  def __exit__(self, *exc):
    # A stop that left start-up work running in a thread (it may still write here): the
    # lock is kept until that work ends, or the process ends at once (preemption.finish,
    # then release_all), whichever comes first.
    if preemption.left_behind():
      preemption.after_left_behind(self._release_once)
    else:
      self.release()
    return False

  def _release_once(self) -> None:
    if any(held[0] is self for held in _HELD.values()):  # not already gone with release_all
      self.release()


def release_all() -> None:
  """Removes every lock file this process holds (a process about to exit at once, or at
  the interpreter's exit one a stop kept for work it left behind), none that a forked
  child inherited from its parent."""
  for held in list(_HELD.values()):
    if held[0].pid == os.getpid():
      held[1] = 1
      held[0].release()


atexit.register(release_all)


def _create(path: str, what: str, **fields) -> bool:
  try:
    fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
  except FileExistsError:
    return False
  with os.fdopen(fd, "w") as f:
    json.dump(dict(owner(what), **fields), f)
  return True


def _holders(directory: str, timeout_s: float):
  """The live holders of `directory` other than this process: (kind, holder) pairs. Stale
  shared locks found here are removed (their holders are gone)."""
  found = []
  exclusive = read(directory)
  if exclusive is not None and not _mine(exclusive) and not is_stale(exclusive, timeout_s):
    found.append(("exclusive", exclusive))
  for path in glob.glob(os.path.join(glob.escape(directory), SHARED_PATTERN)):
    holder = _read_file(path)
    if holder is None or _mine(holder):
      continue
    if is_stale(holder, timeout_s):
      try:
        os.remove(path)
      except OSError:
        pass
      continue
    found.append(("shared", holder))
  return found


def others(directory: str, timeout_s: float = TIMEOUT_S) -> list[dict]:
  """The live processes other than this one that hold `directory`, exclusively or shared."""
  return [holder for _, holder in _holders(directory, timeout_s)]


def _conflict(directory: str, kind: str, within: str | None, timeout_s: float):
  """(the directory, its holder) of the first live writer in another process that a
  `kind` hold of `directory` would meet: in it, above it or below it; None if none."""
  real = os.path.realpath(directory)
  for other_kind, holder in _holders(real, timeout_s):
    if kind == "exclusive" or other_kind == "exclusive":
      return real, holder
  above = os.path.dirname(real)
  while True:
    for other_kind, holder in _holders(above, timeout_s):
      if not (kind == "exclusive" and other_kind == "shared" and above == within):
        return above, holder
    if above == os.path.dirname(above):
      break
    above = os.path.dirname(above)
  for root, dirs, _ in os.walk(real):
    dirs[:] = sorted(d for d in dirs if d not in NOT_SEARCHED and not d.startswith("."))
    if root == real:
      continue
    for _, holder in _holders(root, timeout_s):
      if not (kind == "shared" and holder.get("within") == real):
        return root, holder
  return None


def _refused(directory: str, where: str, holder: dict) -> dict:
  """The holder a refusal names, with where it holds relative to `directory`."""
  real = os.path.realpath(directory)
  relation = "in" if where == real else ("above" if real.startswith(where + os.sep)
                                          else "below")
  return dict(holder, directory=where, relation=relation)


def _take_exclusive(directory: str, what: str, timeout_s: float, within: str | None):
  """(True, the stale holder taken over or None) once `directory/lock.json` is ours, or
  (False, the live holder)."""
  path = os.path.join(directory, LOCK)
  fields = {"within": within} if within else {}
  if _create(path, what, **fields):
    return True, None
  holder = read(directory)
  if holder is None or not is_stale(holder, timeout_s):
    return False, holder
  aside = os.path.join(directory, f"lock.stale-{uuid.uuid4().hex[:8]}.json")
  try:
    os.rename(path, aside)
  except FileNotFoundError:  # another process took it over first
    return False, read(directory)
  try:
    with open(aside) as f:
      moved = json.load(f)
  except ValueError:
    moved = {"unreadable": True}
  if (moved.get("host"), moved.get("pid"), moved.get("since")) != (
      holder.get("host"), holder.get("pid"), holder.get("since")):
    # Another process took the stale lock over between our read and our rename: put its
    # lock back (unless yet another appeared) and leave the directory to it.
    try:
      os.link(aside, path)
    except FileExistsError:
      pass
    os.remove(aside)
    return False, moved
  os.remove(aside)
  if not _create(path, what, **fields):
    return False, read(directory)
  return True, holder


def acquire(directory: str, what: str, timeout_s: float = TIMEOUT_S, *, shared: bool = False,
            within: str | None = None):
  """(the Lock, the stale holder it took over from or None), or (None, the live holder)
  when another process holds `directory`, a directory above it or one below it (the
  holder then says where: 'directory', and 'relation' in/above/below). Makes the directory.

  `shared`: a sweep worker's hold of the sweep's root, shared with the sweep's other
  workers. `within`: the root of a sweep this process holds shared, for the claim of one
  of its cells.
  """
  created = not os.path.isdir(directory)
  os.makedirs(directory, exist_ok=True)
  kind = "shared" if shared else "exclusive"
  key = (os.path.realpath(directory), kind)
  if key in _HELD:  # this process holds it already
    _HELD[key][1] += 1
    return _HELD[key][0], None
  within = os.path.realpath(within) if within else None
  if shared:
    path = os.path.join(directory, f"lock.shared-{socket.gethostname()}-{os.getpid()}-"
                        f"{uuid.uuid4().hex[:8]}.json")
    _create(path, what)
    taken_over = None
  else:
    path = os.path.join(directory, LOCK)
    ok, taken_over = _take_exclusive(directory, what, timeout_s, within)
    if not ok:
      if created:
        _remove_if_empty(directory)
      return None, taken_over and _refused(directory, os.path.realpath(directory), taken_over)
  conflict = _conflict(directory, kind, within, timeout_s)
  if conflict is not None:
    os.remove(path)
    if created:
      _remove_if_empty(directory)
    return None, _refused(directory, *conflict)
  lock = Lock(directory, path, created)
  _HELD[key] = [lock, 1]
  return lock, taken_over


def _remove_if_empty(directory: str) -> None:
  try:
    os.rmdir(directory)
  except OSError:
    pass


def refusal(directory: str, holder: dict | None) -> str:
  """The one line that refuses `directory` to a writer because of `holder`."""
  relation = (holder or {}).get("relation", "in")
  where = (holder or {}).get("directory", directory)
  if relation == "above":
    return (f"{directory} lies under {where}, which {describe(holder)} is writing; wait for it "
            "to finish or stop it, or use a directory outside it")
  if relation == "below":
    return (f"{directory} holds {where}, which {describe(holder)} is writing; wait for it to "
            "finish or stop it, or use another directory")
  return (f"{directory} is being written by {describe(holder)}; wait for it to finish or stop "
          "it, or use another directory")


def hold(directory: str, what: str, timeout_s: float = TIMEOUT_S, *,
         shared: bool = False) -> Lock:
  """The lock of `directory` for a writer that must have it: one UserError naming the
  holder when another live process writes there, above it or below it."""
  try:
    held, holder = acquire(directory, what, timeout_s, shared=shared)
  except OSError as e:
    if os.path.isfile(directory):
      raise UserError(f"{directory} is a file, not a directory; choose a writable "
                      "directory") from None
    raise UserError(f"cannot write to {directory} ({e.strerror}); choose a writable "
                    "directory") from None
  if held is None:
    raise UserError(refusal(directory, holder))
  return held


preemption.on_exit_now(release_all)  # a process ending at once leaves no lock behind

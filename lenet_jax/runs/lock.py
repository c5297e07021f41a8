"""One writer at a time in a directory: a run (lenet_jax.main, a sweep cell, a boosted
member), a prepared set (lenet_jax.prepare), a boosted committee.

A lock is `<directory>/lock.json`, created with O_CREAT | O_EXCL (atomic on local file
systems and on NFS v3 and later), naming its holder: host, pid, the process's start time,
what it does and since when. While it is held a thread refreshes the file's time every
`HEARTBEAT_S`. A lock whose holder is gone is stale and is taken over without anyone
cleaning up by hand: on the same host, no process has that pid and start time (a
SIGKILLed holder, a reused pid); on another host, the file has not been refreshed for
`timeout_s`. Taking a stale lock over renames it away first, so that of two processes
that find it stale only one takes it. A process may take again a lock it holds (a sweep
worker holds its cell, and the training loop inside takes the same directory).

Readers (evaluate, predict, figures) take no lock: they read finished checkpoints only.
"""

import json
import os
import socket
import threading
import time
import uuid

from lenet_jax.common.errors import UserError

LOCK = "lock.json"
HEARTBEAT_S = 20.0
TIMEOUT_S = 300.0  # another host's lock not refreshed for this long is stale
UNREADABLE_S = 10.0  # a lock file that cannot be read (its holder killed writing it) after this
_HELD = {}  # realpath of a directory -> [Lock, depth] held by this process


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


def read(directory: str) -> dict | None:
  """The holder of `directory`'s lock (with its age in seconds), {'unreadable': True,
  'age_s'} for a lock file being written (or left half-written), or None for no lock."""
  path = os.path.join(directory, LOCK)
  try:
    age = time.time() - os.path.getmtime(path)
    with open(path) as f:
      holder = json.load(f)
  except FileNotFoundError:
    return None
  except (OSError, ValueError):
    return {"unreadable": True, "age_s": age}
  holder["age_s"] = age
  return holder


def is_stale(holder: dict, timeout_s: float = TIMEOUT_S) -> bool:
  if holder.get("unreadable"):
    return holder["age_s"] > UNREADABLE_S
  if holder.get("host") == socket.gethostname():
    return not _alive(int(holder["pid"]), holder.get("process_start"))
  return holder["age_s"] > timeout_s


def describe(holder: dict | None) -> str:
  """'lenet_jax.main (pid 123 on host, since 2026-12-06T04:00:00)'."""
  if not holder or holder.get("unreadable"):
    return "another process"
  return (f"{holder.get('what', 'a lenet_jax process')} (pid {holder.get('pid')} on "
          f"{holder.get('host')}, since {holder.get('since', '?')})")


class Lock:
  """A held lock; `release()` (or leaving the `with` block) lets it go, and removes the
  directory if taking the lock made it and nothing was written there since."""

  def __init__(self, directory: str, created: bool = False):
    self.directory = directory
    self.created = created
    self.path = os.path.join(directory, LOCK)
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
    key = os.path.realpath(self.directory)
    held = _HELD.get(key)
    if held is not None and held[0] is self:
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
    self.release()
    return False


def _create(directory: str, what: str) -> bool:
  try:
    fd = os.open(os.path.join(directory, LOCK), os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
  except FileExistsError:
    return False
  with os.fdopen(fd, "w") as f:
    json.dump(owner(what), f)
  return True


def acquire(directory: str, what: str, timeout_s: float = TIMEOUT_S):
  """(the Lock, the stale holder it took over from or None), or (None, the live holder)
  when another process holds `directory`. Makes the directory."""
  created = not os.path.isdir(directory)
  os.makedirs(directory, exist_ok=True)
  key = os.path.realpath(directory)
  if key in _HELD:  # this process holds it already
    _HELD[key][1] += 1
    return _HELD[key][0], None
  taken_over = None
  if not _create(directory, what):
    holder = read(directory)
    if holder is None or not is_stale(holder, timeout_s):
      return None, holder
    aside = os.path.join(directory, f"lock.stale-{uuid.uuid4().hex[:8]}.json")
    try:
      os.rename(os.path.join(directory, LOCK), aside)
    except FileNotFoundError:  # another process took it over first
      return None, read(directory)
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
        os.link(aside, os.path.join(directory, LOCK))
      except FileExistsError:
        pass
      os.remove(aside)
      return None, moved
    os.remove(aside)
    if not _create(directory, what):
      return None, read(directory)
    taken_over = holder
  lock = Lock(directory, created)
  _HELD[key] = [lock, 1]
  return lock, taken_over


def hold(directory: str, what: str, timeout_s: float = TIMEOUT_S) -> Lock:
  """The lock of `directory` for a writer that must have it: one UserError naming the
  holder when another live process has it."""
  try:
    lock, holder = acquire(directory, what, timeout_s)
  except OSError as e:
    raise UserError(f"cannot write to {directory} ({e.strerror}); choose a writable "
                    "directory") from None
  if lock is None:
    raise UserError(f"{directory} is being written by {describe(holder)}; wait for it to "
                    "finish or stop it, or use another directory")
  return lock

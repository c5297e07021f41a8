"""Claims on sweep cells, so that workers sharing one --workdir (processes, hosts, a
SLURM array) never train the same cell at once, and a dead worker's cell is taken over.

A claim is `<cell>/claim.json`, created with O_CREAT | O_EXCL (atomic on local file
systems and NFS v3+). While its worker lives, a thread touches it every
`HEARTBEAT_S`. A claim is stale when its process is gone (same host) or its file has
not been touched for `timeout_s` (another host). Taking a stale claim over renames it
away first: of two workers that see it stale, only one rename succeeds.
"""

import json
import os
import socket
import threading
import time
import uuid

CLAIM = "claim.json"
HEARTBEAT_S = 20.0


def _alive(pid: int) -> bool:
  try:
    os.kill(pid, 0)
  except ProcessLookupError:
    return False
  except PermissionError:  # someone else's process
    return True
  return True


def owner() -> dict:
  return {"host": socket.gethostname(), "pid": os.getpid()}


def read(directory: str) -> dict | None:
  try:
    with open(os.path.join(directory, CLAIM)) as f:
      claim = json.load(f)
    claim["age_s"] = time.time() - os.path.getmtime(os.path.join(directory, CLAIM))
    return claim
  except (OSError, ValueError):  # none, or being written: not stale yet
    return None


def is_stale(claim: dict, timeout_s: float) -> bool:
  if claim.get("host") == socket.gethostname():
    return not _alive(claim["pid"])
  return claim["age_s"] > timeout_s


class Claim:
  """The claim this worker holds on one cell; `release()` when the cell is done or stopped."""

  def __init__(self, directory: str):
    self.path = os.path.join(directory, CLAIM)
    self._stop = threading.Event()
    self._thread = threading.Thread(target=self._beat, daemon=True)
    self._thread.start()

  def _beat(self):
    while not self._stop.wait(HEARTBEAT_S):
      try:
        os.utime(self.path)
      except OSError:
        return

  def release(self) -> None:
    self._stop.set()
    try:
      os.remove(self.path)
    except OSError:
      pass


def _create(directory: str, shard: str) -> bool:
  try:
    fd = os.open(os.path.join(directory, CLAIM), os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
  except FileExistsError:
    return False
  with os.fdopen(fd, "w") as f:
    json.dump(dict(owner(), shard=shard, started=time.strftime("%Y-%m-%dT%H:%M:%S")), f)
  return True


def acquire(directory: str, shard: str, timeout_s: float) -> tuple[Claim | None, dict | None]:
  """(this worker's Claim, the stale claim it took over or None), or (None, the live
  claim of another worker) when the cell is taken."""
  os.makedirs(directory, exist_ok=True)
  if _create(directory, shard):
    return Claim(directory), None
  claim = read(directory)
  if claim is None or not is_stale(claim, timeout_s):
    return None, claim
  aside = os.path.join(directory, f"claim.stale-{uuid.uuid4().hex[:8]}.json")
  try:
    os.rename(os.path.join(directory, CLAIM), aside)
  except FileNotFoundError:  # another worker took it over first
    return None, read(directory)
  with open(aside) as f:
    moved = json.load(f)
  if (moved.get("host"), moved.get("pid"), moved.get("started")) != (
      claim.get("host"), claim.get("pid"), claim.get("started")):
    # A worker that took the stale claim over between our read and our rename: put its
    # claim back (unless yet another claim appeared) and leave the cell to it.
    try:
      os.link(aside, os.path.join(directory, CLAIM))
    except FileExistsError:
      pass
    os.remove(aside)
    return None, moved
  os.remove(aside)
  if _create(directory, shard):
    return Claim(directory), claim
  return None, read(directory)

"""What a run ran on: library versions, the code's commit, and the devices.

Written into every run directory (`versions.json`) so that a recorded result
says which environment made it; `requirements.lock` pins the CPU environment.
"""

import functools
import importlib.metadata
import os
import platform
import subprocess

import jax

# The libraries whose releases can move a result: numerics, training and data.
PACKAGES = ("jax", "jaxlib", "flax", "optax", "orbax-checkpoint", "grain", "tensorflow-datasets",
            "numpy", "ml-collections")


@functools.lru_cache(maxsize=1)
def _commit() -> str | None:
  """The git commit of the lenet_jax source in use (with '+dirty' for local changes), or None."""
  root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  try:
    head = subprocess.run(["git", "-C", root, "rev-parse", "HEAD"], capture_output=True,
                          text=True, timeout=10)
    if head.returncode:
      return None
    dirty = subprocess.run(["git", "-C", root, "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True, timeout=10).stdout.strip()
  except (OSError, subprocess.SubprocessError):
    return None
  return head.stdout.strip() + ("+dirty" if dirty else "")


def collect() -> dict:
  """{package: version} for `PACKAGES`, plus python, the commit and the devices (the
  commit is read once per process: a sweep records every seed's run directory)."""
  out = {"python": platform.python_version()}
  for name in PACKAGES:
    try:
      out[name] = importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
      out[name] = None
  devices = jax.devices()
  out.update(lenet_jax_commit=_commit(), backend=jax.default_backend(),
             device_kind=devices[0].device_kind, device_count=jax.device_count(),
             process_count=jax.process_count())
  return out

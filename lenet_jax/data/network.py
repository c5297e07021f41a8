"""Decide quickly whether the network is reachable (TFDS alone retries for minutes)."""

import functools
import os
import socket
import threading

PROBE_HOSTS = (("storage.googleapis.com", 443),)


@functools.cache
def reachable(timeout: float = 4.0) -> bool:
  """True when a TCP connection to TFDS's storage opens within `timeout` seconds.

  Runs in a daemon thread so a hanging DNS lookup cannot stall the caller; set
  LENET_JAX_OFFLINE=1 to skip the probe.
  """
  if os.environ.get("LENET_JAX_OFFLINE", "") not in ("", "0"):
    return False
  result = []

  def probe():
    for host, port in PROBE_HOSTS:
      try:
        socket.create_connection((host, port), timeout=timeout).close()
        result.append(True)
        return
      except OSError:
        pass

  thread = threading.Thread(target=probe, daemon=True)
  thread.start()
  thread.join(2 * timeout)
  return bool(result)

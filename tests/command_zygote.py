"""Starts the commands a test runs as `python -m lenet_jax.<command>` would, but each
forked from a process that has imported lenet_jax's libraries once (a zygote), so that
a command does not spend its first seconds importing JAX, Flax and orbax again.

  python tests/command_zygote.py SOCKET      (started by tests/conftest.py)

Each request on the Unix socket SOCKET (a JSON message with three file descriptors:
the child's stdin, stdout and stderr) forks a child that runs the module as
`__main__`, with the request's argv, environment and working directory; the reply
is its pid, and later a message with its exit status (negative: the signal that
ended it, as subprocess reports it). Nothing here has touched a JAX backend before
the fork: the child initialises its own (XLA_FLAGS, read then, may differ per
command: tests/test_suite_settings.py checks a child's device count; the JAX_*
variables, read at import, are the zygote's, except JAX_DISABLE_MOST_OPTIMIZATIONS,
which each child applies). A child ends as an interpreter does, through SystemExit and
the interpreter's own shutdown (threads joined, exit functions run), public behaviour
only. A multi-process (jax.distributed) command forked here trained and then hung in
that shutdown (we think on a lock the fork copied while held; not investigated further):
the test of two processes starts new interpreters, as users do.
"""

import gc
import importlib
import json
import os
import runpy
import select
import signal
import socket
import sys
import traceback

PRELOAD = (
    "jax", "jax.numpy", "flax.nnx", "optax", "orbax.checkpoint", "numpy", "ml_collections",
    "absl.app", "absl.flags", "absl.logging", "tensorboardX", "PIL.Image", "grain",
    "matplotlib.pyplot", "scipy.stats",
    "lenet_jax.config.cli", "lenet_jax.training.train", "lenet_jax.training.boost",
    "lenet_jax.sweeps.sweep", "lenet_jax.runs.evaluate", "lenet_jax.runs.predict",
    "lenet_jax.runs.figures", "lenet_jax.runs.committee", "lenet_jax.runs.plots",
    "lenet_jax.models.summary", "lenet_jax.data.prepare", "lenet_jax.weights.import_weights",
    "lenet_jax.weights.export_weights",
    "lenet_jax.benchmarking.benchmark")


def _child(request, fds, closing):
  for fd in closing:
    os.close(fd)
  signal.set_wakeup_fd(-1)
  signal.signal(signal.SIGCHLD, signal.SIG_DFL)
  signal.signal(signal.SIGINT, signal.default_int_handler)
  signal.signal(signal.SIGTERM, signal.SIG_DFL)
  for target, fd in enumerate(fds):
    os.dup2(fd, target)
    os.close(fd)
  os.chdir(request["cwd"])
  os.environ.clear()
  os.environ.update(request["env"])
  # The one JAX setting a test may change per command (tests/conftest.py), read again.
  import jax
  jax.config.update("jax_disable_most_optimizations", os.environ.get(
      "JAX_DISABLE_MOST_OPTIMIZATIONS", "0").lower() in ("1", "y", "yes", "t", "true", "on"))
  import cheap_xla  # and with it, the cheap settings' emitters (tests/cheap_xla.py)
  if not os.environ.get("LENET_JAX_TEST_NO_CHEAP_EMITTERS"):
    cheap_xla.install()
  sys.argv = [request["module"], *request["args"]]
  try:
    runpy.run_module(request["module"], run_name="__main__", alter_sys=True)
  except SystemExit:
    raise  # out of serve(): the interpreter's own exit, as `python -m` ends
  except BaseException:  # as the interpreter would: the traceback, status 1
    traceback.print_exc()
    raise SystemExit(1) from None
  raise SystemExit(0)


def _send(conn, message: dict) -> None:
  conn.send(json.dumps(message).encode())


def serve(path: str) -> None:
  for name in PRELOAD:
    importlib.import_module(name)
  # What the imports made is never garbage: kept out of the collector, a child's exit
  # (the interpreter's shutdown collects) takes a fifth of the time (measured in
  # experiments/test_suite/README.md, the fourth round).
  gc.freeze()
  listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
  listener.bind(path)
  listener.listen(1)
  print("ready", flush=True)
  conn, _ = listener.accept()
  wake_read, wake_write = os.pipe()
  os.set_blocking(wake_write, False)
  signal.set_wakeup_fd(wake_write)
  signal.signal(signal.SIGCHLD, lambda *_: None)
  while True:
    ready, _, _ = select.select([conn, wake_read], [], [])
    if wake_read in ready:
      os.read(wake_read, 4096)
      while True:
        try:
          pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
          break
        if pid == 0:
          break
        _send(conn, {"exit": pid, "returncode": os.waitstatus_to_exitcode(status)})
    if conn in ready:
      message, fds, _, _ = socket.recv_fds(conn, 1 << 20, 3)
      if not message:
        break  # the tests are done
      request = json.loads(message)
      pid = os.fork()
      if pid == 0:
        _child(request, fds, [listener.fileno(), conn.fileno(), wake_read, wake_write])
      for fd in fds:
        os.close(fd)
      _send(conn, {"pid": pid})


if __name__ == "__main__":
  sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
  serve(sys.argv[1])

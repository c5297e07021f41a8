"""SIGTERM and Ctrl-C: finish the step in flight, save, and exit cleanly, never crash.

While any `StopSignals` context is active (each command holds one for its whole life, the
training loop one more), SIGTERM and SIGINT only record the signal: the handler never
raises, so no exception ever lands inside another library's code (a JAX callback, a
compiler, a garbage-collection hook). The work checks the record at its safe points (every
dispatched chunk, every epoch end, between a sweep's cells), saves, and raises
`StopRequested` from its own code; the command prints it and exits with 128 + the signal.

Work that cannot stop itself part-way (loading data, building a model, compiling a step:
nothing of it is saved yet) runs through `wait_for(fn, what)`: `fn` runs in a thread while
the caller waits, and a stop ends the wait at once with `what` ('during start-up; nothing
was trained'). The thread is left behind, and the process then ends with `finish`, which
skips the interpreter's shutdown (joining a thread inside a compiler aborts the process)
after the command's own clean-up (its locks released on the way out) has run.

A second signal stops at once: one line, the locks this process holds removed, and exit.
"""

import os
import signal
import sys
import threading


class StopRequested(BaseException):
  """Raised after a stop signal, once what can be saved is saved; the message says what.

  A BaseException, like KeyboardInterrupt: code that handles a library's errors with
  `except Exception` (a damaged checkpoint's many error types) must not take it for one.
  """

  def __init__(self, message, signum):
    super().__init__(message)
    self.exit_code = 128 + signum


POLL_S = 0.05  # how often a wait looks for a stop
_state = {"signum": None, "depth": 0, "previous": {}, "left_behind": [], "on_exit_now": []}


def on_exit_now(fn) -> None:
  """`fn()` runs before the process ends at once (a second signal, or work left behind): a
  lower layer's clean-up that cannot wait for the unwinding (lock files)."""
  _state["on_exit_now"].append(fn)


def _exit_now(code: int, message: str | None = None) -> None:
  try:
    if message:
      print(message, flush=True)
    sys.stdout.flush()
    sys.stderr.flush()
  finally:
    for fn in _state["on_exit_now"]:  # last: work left behind may run until the exit
      try:
        fn()
      except Exception:  # the process is ending either way  # noqa: BLE001
        pass
    os._exit(code)


def _handle(signum, frame):
  del frame
  if _state["signum"] is not None:
    name = signal.Signals(signum).name
    _exit_now(128 + signum, f"stopped at once by a second {name}; the last checkpoint "
              "written (if any) is kept")
  _state["signum"] = signum


def left_behind() -> bool:
  """Whether work a stop left behind is still running in a thread of this process."""
  _state["left_behind"] = [t for t in _state["left_behind"] if t.is_alive()]
  return bool(_state["left_behind"])


def after_left_behind(fn) -> None:
  """`fn()` runs, in a daemon thread, once the work a stop left behind has ended (at once
  when there is none): a clean-up that must wait for it (a lock over the files it may still
  write) yet must not wait for the process's end (a caller that goes on: a notebook)."""
  threads = list(_state["left_behind"])

  def wait_then_run():
    for thread in threads:
      thread.join()
    fn()

  threading.Thread(target=wait_then_run, daemon=True, name="after_left_behind").start()


def finish(code: int) -> None:
  """Ends the process with `code`: at once when a stop left work running in a thread
  (the interpreter's shutdown would wait for it, or abort inside it), else normally."""
  if left_behind():
    _exit_now(code)
  sys.exit(code)


def hold_from_start() -> None:
  """Holds stop signals for the rest of the process: called by a command's first import,
  before its libraries import (lenet_jax/__init__.py); the command's own `StopSignals`
  nests inside and sees a signal that came meanwhile (lenet_jax.config.cli.run)."""
  StopSignals().__enter__()


class StopSignals:
  """Context manager: while active, SIGTERM and SIGINT set the shared `signum`. Nests:
  a signal received under an outer context (a command's start-up) is seen by an
  inner one (the training loop)."""

  SIGNALS = (signal.SIGTERM, signal.SIGINT)

  def __enter__(self):
    if _state["depth"] == 0:
      for s in self.SIGNALS:
        try:
          _state["previous"][s] = signal.signal(s, _handle)
        except ValueError:  # not the main thread: leave signals alone
          pass
    _state["depth"] += 1
    return self

  def __exit__(self, *exc):
    _state["depth"] -= 1
    if _state["depth"] == 0:
      for s, handler in _state["previous"].items():
        signal.signal(s, handler)
      _state["previous"].clear()
      _state["signum"] = None
    return False

  @property
  def signum(self):
    return _state["signum"]

  @property
  def name(self):
    return signal.Signals(self.signum).name if self.signum else None

  def stopped(self, what: str) -> StopRequested:
    """The StopRequested for the signal received: 'stopped by SIGNAL <what>'."""
    return StopRequested(f"stopped by {self.name} {what}", self.signum)

  def saved(self, where: str, directory: str) -> StopRequested:
    """The StopRequested of a training loop that saved a checkpoint `where` in `directory`."""
    return self.stopped(f"{where}; checkpoint saved in {directory}; run the same command to "
                        "resume")

  def wait_for(self, fn, what: str):
    """fn() run in a thread while this thread waits for it, so that a stop ends the wait
    within `POLL_S` (a compilation or a file read does not return to Python until it is
    done): raises StopRequested saying `what` then, and the thread is left behind (see
    `finish`). A stop that came before the call stops it before it starts."""
    if self.signum is not None:
      raise self.stopped(what)
    result = {}

    def work():
      try:
        result["value"] = fn()
      except BaseException as e:  # raised here, in the waiting thread
        result["error"] = e

    thread = threading.Thread(target=work, daemon=True, name="stoppable_wait")
    thread.start()
    while thread.is_alive():
      thread.join(POLL_S)
      if self.signum is not None and thread.is_alive():
        _state["left_behind"].append(thread)
        raise self.stopped(what)
    if "error" in result:
      raise result["error"]
    return result["value"]

  def check_before(self, what: str) -> None:
    """Raises StopRequested if a stop arrived, saying that `what` did not start."""
    if self.signum is not None:
      raise self.stopped(f"before {what}")

"""SIGTERM and Ctrl-C: finish the step in flight, save, and exit cleanly.

While any `StopSignals` context is active (each command holds one for its whole
life, the training loop one more), SIGTERM and SIGINT only record the signal;
the loop checks it at every dispatched chunk and every epoch end, saves, and raises
`StopRequested`, which the command prints before exiting with 128 + the signal.
A second signal stops at once, without waiting for the loop.

Where nothing is at stake yet (a training run's start-up: loading data, building
the model, compiling the step), `immediately(what)` makes a signal stop at once, and
`wait_for(fn)` runs a long call (a compilation, which no signal interrupts) in a
thread so that the wait for it can be stopped.
"""

import contextlib
import signal
import threading


class StopRequested(BaseException):
  """Raised after a stop signal, once what can be saved is saved; the message says what.

  A BaseException, like KeyboardInterrupt: code that handles a library's errors with
  `except Exception` (a damaged checkpoint's many error types) must not take it for one.
  """

  def __init__(self, message, signum):
    super().__init__(message)
    self.exit_code = 128 + signum


_state = {"signum": None, "depth": 0, "previous": {}, "immediately": None}


def _handle(signum, frame):
  del frame
  name = signal.Signals(signum).name
  if _state["immediately"] is not None:
    _state["signum"] = signum
    raise StopRequested(f"stopped by {name} {_state['immediately']}", signum)
  if _state["signum"] is not None:
    raise StopRequested(f"stopped at once by a second {name}; "
                        "the last checkpoint written (if any) is kept", signum)
  _state["signum"] = signum


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

  @contextlib.contextmanager
  def immediately(self, what: str):
    """Within the block a signal stops at once, saying `what` ('during start-up; nothing
    was trained'); one that arrived before it stops on entry."""
    if self.signum is not None:
      raise self.stopped(what)
    _state["immediately"] = what
    try:
      yield
    finally:
      _state["immediately"] = None

  def wait_for(self, fn, what: str):
    """fn() run in a thread while this thread waits for it, so that a signal stops the
    wait (a compilation does not return to Python until it is done): raises
    StopRequested saying `what` then, the thread left to end with the process."""
    result = {}

    def work():
      try:
        result["value"] = fn()
      except BaseException as e:  # raised here, in the waiting thread
        result["error"] = e

    thread = threading.Thread(target=work, daemon=True, name="stoppable_wait")
    thread.start()
    while thread.is_alive():
      thread.join(0.05)
      if self.signum is not None and thread.is_alive():
        raise self.stopped(what)
    if "error" in result:
      raise result["error"]
    return result["value"]

  def check_before(self, what: str) -> None:
    """Raises StopRequested if a stop arrived, saying that `what` did not start."""
    if self.signum is not None:
      raise self.stopped(f"before {what}")

"""SIGTERM and Ctrl-C: finish the step in flight, save, and exit cleanly.

While any `StopSignals` context is active (each command holds one for its whole
life, the training loops one more), SIGTERM and SIGINT only record the signal;
the loops check it at every dispatched chunk and every epoch end, save, and raise
`StopRequested`, which the command prints before exiting with 128 + the signal.
A second signal stops at once, without waiting for the loop.
"""

import signal


class StopRequested(Exception):
  """Raised after a stop signal, once what can be saved is saved; the message says what."""

  def __init__(self, message, signum):
    super().__init__(message)
    self.exit_code = 128 + signum


_state = {"signum": None, "depth": 0, "previous": {}}


def _handle(signum, frame):
  del frame
  if _state["signum"] is not None:
    raise StopRequested(f"stopped at once by a second {signal.Signals(signum).name}; "
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

  def check_before(self, what: str) -> None:
    """Raises StopRequested if a stop arrived, saying that `what` did not start."""
    if self.signum is not None:
      raise self.stopped(f"before {what}")

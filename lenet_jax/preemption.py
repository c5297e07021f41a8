"""SIGTERM and Ctrl-C: finish the step in flight, save, and exit cleanly."""

import signal


class StopRequested(Exception):
  """Raised by the training loop after it saved a checkpoint on a stop signal."""

  def __init__(self, message, signum):
    super().__init__(message)
    self.exit_code = 128 + signum


class StopSignals:
  """Context manager: while active, SIGTERM and SIGINT only set `self.signum`.

  The training loop checks it at each step boundary (each dispatched chunk).
  """

  SIGNALS = (signal.SIGTERM, signal.SIGINT)

  def __init__(self):
    self.signum = None
    self._previous = {}

  def _handle(self, signum, frame):
    del frame
    self.signum = signum

  def __enter__(self):
    for s in self.SIGNALS:
      try:
        self._previous[s] = signal.signal(s, self._handle)
      except ValueError:  # not the main thread: leave signals alone
        pass
    return self

  def __exit__(self, *exc):
    for s, handler in self._previous.items():
      signal.signal(s, handler)
    return False

  @property
  def name(self):
    return signal.Signals(self.signum).name if self.signum else None

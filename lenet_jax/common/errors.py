"""User errors: anything a user can cause ends in one line, never a traceback."""

import functools
import sys


class UserError(Exception):
  """A problem the user can fix (bad config value, missing file, no network).

  The message is one line that names the key or file, what was wrong and what
  to do about it.
  """


class ConfigError(UserError):
  """An invalid config value."""

  def __init__(self, key: str, value, expected: str):
    super().__init__(f"config.{key}={value!r} is invalid: {expected}")
    self.key = key
    self.value = value


def check_choice(key: str, value, choices) -> None:
  if value not in choices:
    raise ConfigError(key, value, "choose one of " + ", ".join(map(str, choices)))


def check_int(key: str, value, minimum: int = 1, expected: str | None = None) -> None:
  """An integer >= `minimum` (not a bool); `expected` words the requirement instead."""
  if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
    raise ConfigError(key, value, expected or f"must be an integer >= {minimum}")


def check_positive(key: str, value) -> None:
  if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
    raise ConfigError(key, value, "must be a positive number")


def first_line(error: Exception, limit: int = 160) -> str:
  """`Type: first line of the message`, cut to `limit` characters (for error lines that
  quote a library's exception)."""
  message = str(error).strip()
  text = f"{type(error).__name__}: {message.splitlines()[0] if message else ''}"
  return text if len(text) <= limit else text[:limit - 3] + "..."


def exit_on_user_error(fn):
  """Wraps an absl `main` so that a UserError prints one line and exits 1, a stop signal's
  `StopRequested` prints what was saved and exits 128 + the signal, and a stop signal that
  came when nothing was left to stop says so and exits 128 + the signal too."""
  from lenet_jax.common import preemption

  @functools.wraps(fn)
  def wrapper(*args, **kwargs):
    try:
      out = fn(*args, **kwargs)
    except UserError as e:
      print(f"error: {e}", file=sys.stderr, flush=True)
      preemption.finish(1)
    except preemption.StopRequested as e:
      print(str(e), flush=True)
      preemption.finish(e.exit_code)
    stop = preemption.StopSignals()
    if stop.signum is not None:
      print(f"stopped by {stop.name} after the command's work was done; all of it is kept",
            flush=True)
      preemption.finish(128 + stop.signum)
    return out

  return wrapper

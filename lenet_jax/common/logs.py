"""Keeps a command's output readable: plain log lines ('warning: ...', without absl's
'W1206 03:01:48.685294 123 file.py:142]' prefix), and the libraries' INFO chatter
(orbax, XLA) dropped."""

import logging as std_logging

from absl import logging

_PACKAGE = "lenet_jax"


class _OwnInfoOnly(std_logging.Filter):

  def filter(self, record):
    return record.levelno >= std_logging.WARNING or _PACKAGE in record.pathname


class _Plain(std_logging.Formatter):

  def format(self, record):
    text = super().format(record)
    return f"{record.levelname.lower()}: {text}" if record.levelno >= std_logging.WARNING else text


def plain() -> None:
  """Shows INFO lines from lenet_jax only, warnings and errors from everything, each as
  its message alone ('warning: ...' for a warning)."""
  handler = logging.get_absl_handler()
  if not any(isinstance(f, _OwnInfoOnly) for f in handler.filters):
    handler.addFilter(_OwnInfoOnly())
  handler.setFormatter(_Plain("%(message)s"))



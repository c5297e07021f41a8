"""Keeps a run's log readable: libraries' INFO chatter (orbax, XLA) is dropped."""

import logging as std_logging

from absl import logging

_PACKAGE = "lenet_jax"


class _OwnInfoOnly(std_logging.Filter):

  def filter(self, record):
    return record.levelno >= std_logging.WARNING or _PACKAGE in record.pathname


def quiet_libraries() -> None:
  """Shows INFO lines from lenet_jax only; warnings and errors from everything."""
  handler = logging.get_absl_handler()
  if not any(isinstance(f, _OwnInfoOnly) for f in handler.filters):
    handler.addFilter(_OwnInfoOnly())

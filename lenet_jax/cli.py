"""Entry points shared by the command-line tools."""

import os
import sys

from absl import app, flags

from lenet_jax.errors import UserError


def check_config_file(argv) -> None:
  """Fails in one line on a --config file that does not exist (absl would print a traceback)."""
  for i, arg in enumerate(argv):
    value = None
    if arg.startswith("--config="):
      value = arg.split("=", 1)[1]
    elif arg == "--config" and i + 1 < len(argv):
      value = argv[i + 1]
    if value is not None:
      path = value.split(":", 1)[0]
      if not os.path.isfile(path):
        raise UserError(f"--config={value}: no such file {path!r} (run from the repository root, "
                        "e.g. --config=configs/lenet5.py)")


def run(main, require_config: bool = True) -> None:
  """absl's app.run, after the checks that must happen before flags are parsed."""
  try:
    check_config_file(sys.argv)
  except UserError as e:
    print(f"error: {e}", file=sys.stderr)
    sys.exit(1)
  if require_config:
    flags.mark_flags_as_required(["config"])
  app.run(main)

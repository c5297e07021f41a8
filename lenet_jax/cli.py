"""Entry points shared by the command-line tools: one way to parse flags, one `error:`
line for every mistake in them, and stop signals held for the command's whole life."""

import contextlib
import difflib
import os
import re
import sys

from absl import app, flags

from lenet_jax import preemption
from lenet_jax.errors import UserError, first_line

_UNKNOWN_KEY = re.compile(r"'([\w.]+)")
_PRINT_CONFIG = flags.DEFINE_bool(
    "print_config", False, "Print every config key with its value (after --config.* "
    "overrides), then exit: the keys that --config.KEY=VALUE accepts.")


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


def _load_config_file(value: str):
  """`get_config(arg)` of a --config=FILE[:ARG] value, as ml_collections loads it."""
  import importlib.util
  path, _, arg = value.partition(":")
  spec = importlib.util.spec_from_file_location("_lenet_jax_config", path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.get_config(arg) if arg else module.get_config()


def _config_keys(argv, config=None) -> list:
  """The dotted keys of `config`, else of the --config in `argv` or the defined one."""
  from flax import traverse_util
  if config is None and "config" in flags.FLAGS:
    config = flags.FLAGS["config"].value
  value = next((a.split("=", 1)[1] for a in argv if a.startswith("--config=")), None)
  try:
    if config is None and value is not None:
      config = _load_config_file(value)
  except Exception:  # the names are a hint; the error line stands without them
    return []
  return [] if config is None else list(traverse_util.flatten_dict(config.to_dict(), sep="."))


def _unknown_key_message(argv, error: AttributeError, config=None) -> str:
  missing = _UNKNOWN_KEY.search(str(error)).group(1)
  given = next((a.split("=", 1)[0] for a in argv[1:] if a.startswith("--config.")
                and (a.split("=", 1)[0] + ".").find("." + missing + ".") >= 0),
               f"--config.{missing}")
  key = given[len("--config."):]
  close = difflib.get_close_matches(key, _config_keys(argv, config), n=1, cutoff=0.6)
  hint = f"did you mean --config.{close[0]}?" if close else "--print_config lists the keys"
  return f"{given}: the config has no key {key!r}; {hint}"


@contextlib.contextmanager
def flag_errors(argv, config=None):
  """Turns every mistake in the flags `argv` into one UserError: a value of the wrong
  type, an unknown flag or config key (of `config`, or the --config file), a config
  file that fails to load."""
  try:
    yield
  except flags.Error as e:
    raise UserError(str(e).strip().splitlines()[0]) from None
  except AttributeError as e:  # ml_collections: an override of a key the config lacks
    raise UserError(_unknown_key_message(argv, e, config)) from None
  except SyntaxError as e:
    raise UserError(f"{e.filename}, line {e.lineno}: {e.msg}; fix the config file") from None
  except Exception as e:  # the config file's get_config raised
    raise UserError(f"the config could not be loaded ({first_line(e)})") from None


def parse_flags(argv) -> list:
  """absl's flag parsing, with every mistake as one UserError (`flag_errors`)."""
  with flag_errors(argv):
    return flags.FLAGS(argv)


HELP = ("--help", "-h", "--helpshort", "--helpfull", "--helpxml", "-?")


def _parse_or_exit(argv) -> list:
  try:
    argv = parse_flags(argv)
  except SystemExit:  # absl printed the help asked for, and exits 1 after it; 0 is right
    if any(a.split("=")[0] in HELP for a in argv[1:]):
      sys.exit(0)
    raise
  except UserError as e:
    print(f"error: {e}", file=sys.stderr, flush=True)
    sys.exit(1)
  if _PRINT_CONFIG.value:
    config = flags.FLAGS["config"].value if "config" in flags.FLAGS else None
    print(config if config is not None else "this command takes no --config", flush=True)
    sys.exit(0)
  return argv


def run(main, require_config: bool = True) -> None:
  """absl's app.run, after the checks that must happen before flags are parsed, with
  stop signals held (a Ctrl-C during start-up is seen by the training loop)."""
  with preemption.StopSignals():
    try:
      check_config_file(sys.argv)
    except UserError as e:
      print(f"error: {e}", file=sys.stderr)
      sys.exit(1)
    if require_config and "config" in flags.FLAGS:
      flags.mark_flags_as_required(["config"])
    if "config" in flags.FLAGS:  # --help lists it beside the command's own flags
      flags.FLAGS.register_key_flag_for_module(sys.argv[0], flags.FLAGS["print_config"])
    app.run(main, flags_parser=_parse_or_exit)


def define_config_from_run(argv, workdir_flag) -> None:
  """For commands that take a run (evaluate, predict): the run's config.json (and its
  history) becomes --config, so --config.* flags override it; `--help` needs no run."""
  from ml_collections import config_flags

  from lenet_jax import run_record
  flags.FLAGS(argv, known_only=True)
  asks_help = any(a.split("=")[0] in HELP for a in argv[1:])
  if not workdir_flag.value:
    if asks_help:
      return
    raise UserError("--workdir is required: a run directory")
  config = run_record.load_config(workdir_flag.value)
  with flag_errors(argv, config):  # the overrides in argv are applied here
    config_flags.DEFINE_config_dict("config", config, lock_config=True)


def run_on_a_run(main, workdir_flag) -> None:
  """`run` for a command that takes a run directory: its config becomes --config first."""
  from lenet_jax.errors import exit_on_user_error
  exit_on_user_error(define_config_from_run)(list(sys.argv), workdir_flag)
  run(main, require_config=False)


def begin(argv, **required) -> None:
  """A command's first lines: libraries quiet, no stray arguments, each flag in
  `required` (name -> what it is) given, else one `error:` line."""
  from lenet_jax.logs import quiet_libraries
  quiet_libraries()
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
  for name, what in required.items():
    if not flags.FLAGS[name].value:
      raise UserError(f"--{name} is required: {what}")

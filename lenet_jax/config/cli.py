"""How every command parses its command line: absl flags, a config as `--config`, one
`error:` line for every mistake, and stop signals held for the command's whole life.

A command module holds its flags and one call:

  def main(argv):
    cli.begin(argv)
    train.train_and_evaluate(cli.config(), flags.FLAGS.workdir or ...)

  def define_flags():
    flags.DEFINE_string("workdir", None, "...")

  if __name__ == "__main__":
    cli.run(main, define_flags)                  # --config=FILE[:ARGS] required

`config=CONFIG_FILE` loads `--config=path/file.py[:ARGS]` with the one config loader
(`lenet_jax.config.loading`); a function `config=load(workdir)` takes the config of the run
in `--workdir` (evaluate, predict and figures pass `lenet_jax.runs.run_record.load_config`);
`NO_CONFIG` none. Either way `--config.KEY=VALUE`
overrides a key, `--print_config` lists them, and `--help` needs no config. Flags are
defined when a command runs, never when a module is imported.
"""

import difflib
import re
import sys

from absl import app, flags

from lenet_jax.common import logs, preemption
from lenet_jax.common.errors import UserError, exit_on_user_error, first_line

CONFIG_FILE, NO_CONFIG = "file", "none"
HELP = ("--help", "-h", "--helpshort", "--helpfull", "--helpxml", "-?")
_UNKNOWN_KEY = re.compile(r"'([\w.]+)")
_state = {"config_arg": None, "config": None}


def config():
  """The command's config, with its --config.* overrides applied."""
  return flags.FLAGS.config


def config_arg() -> str | None:
  """The --config value the command was given ('configs/lenet5.py:runlocal'), if any."""
  return _state["config_arg"]


def _asks_help(argv) -> bool:
  return any(a.split("=")[0] in HELP for a in argv[1:])


def _config_value(argv) -> tuple[str | None, list]:
  """(the --config=FILE[:ARGS] value, argv without it): both spellings, `--config=V` and
  `--config V`."""
  value, rest, skip = None, [argv[0]], False
  for i, arg in enumerate(argv[1:], 1):
    if skip:
      skip = False
      continue
    if arg.startswith("--config="):
      value = arg.split("=", 1)[1]
    elif arg == "--config" and i + 1 < len(argv):
      value, skip = argv[i + 1], True
    else:
      rest.append(arg)
  return value, rest


def _unknown_key_message(argv, error: AttributeError, loaded) -> str:
  from flax import traverse_util
  found = _UNKNOWN_KEY.search(str(error))
  missing = found.group(1) if found else "?"
  given = next((a.split("=", 1)[0] for a in argv[1:] if a.startswith("--config.")
                and (a.split("=", 1)[0] + ".").find("." + missing + ".") >= 0),
               f"--config.{missing}")
  key = given[len("--config."):]
  keys = list(traverse_util.flatten_dict(loaded.to_dict(), sep=".")) if loaded else []
  close = difflib.get_close_matches(key, keys, n=1, cutoff=0.6)
  hint = f"did you mean --config.{close[0]}?" if close else "--print_config lists the keys"
  return f"{given}: the config has no key {key!r}; {hint}"


def _parse(argv) -> list:
  """absl's parsing, with every mistake as one UserError."""
  try:
    return flags.FLAGS(argv)
  except flags.Error as e:
    raise UserError(str(e).strip().splitlines()[0]) from None
  except AttributeError as e:  # ml_collections: an override of a key the config lacks
    raise UserError(_unknown_key_message(argv, e, _state["config"])) from None
  except (TypeError, ValueError) as e:  # a value that does not fit the key's type
    raise UserError(f"a --config override does not fit ({first_line(e)})") from None


def _parse_or_exit(argv) -> list:
  _, argv = _config_value(argv)  # loaded already: not a flag of absl's
  try:
    argv = _parse(argv)
  except SystemExit:  # absl printed the help asked for, and exits 1 after it; 0 is right
    if _asks_help(argv):
      sys.exit(0)
    raise
  except UserError as e:
    print(f"error: {e}", file=sys.stderr, flush=True)
    sys.exit(1)
  if "print_config" in flags.FLAGS and flags.FLAGS.print_config:
    print(flags.FLAGS.config if "config" in flags.FLAGS else "this command takes no --config",
          flush=True)
    sys.exit(0)
  return argv


def _define_config(argv, kind, default_config: str | None, lock_config: bool) -> None:
  """Defines --config (and --print_config) for `kind`, shown by --help with the command's
  own flags."""
  try:
    _define_config_flags(argv, kind, default_config, lock_config)
  finally:
    for name in ("config", "print_config"):
      if name in flags.FLAGS:
        flags.FLAGS.register_key_flag_for_module(sys.argv[0], flags.FLAGS[name])


def _define_config_flags(argv, kind, default_config: str | None, lock_config: bool) -> None:
  from ml_collections import config_flags

  from lenet_jax.config import loading
  if kind == NO_CONFIG:
    return
  flags.DEFINE_bool("print_config", False, "Print every config key with its value (after "
                    "--config.* overrides), then exit: the keys that --config.KEY=VALUE accepts.")
  if callable(kind):
    # the run's config.json (with its history) is --config; --workdir names the run
    flags.FLAGS(_config_value(argv)[1], known_only=True)
    workdir = flags.FLAGS.workdir
    if not workdir:
      if _asks_help(argv):
        return
      raise UserError("--workdir is required: a run directory")
    loaded = kind(workdir)
    help_text = f"The config of the run in --workdir ({workdir}); --config.KEY=VALUE overrides a key."
  else:
    value, _ = _config_value(argv)
    value = value or default_config
    if value is None:
      if _asks_help(argv):
        flags.DEFINE_string("config", None, "Config file, FILE[:ARGS] (e.g. configs/lenet5.py:"
                            "runlocal); --config.KEY=VALUE overrides a key.")
        return
      raise UserError("--config is required: a config file, e.g. --config=configs/lenet5.py")
    _state["config_arg"] = value
    loaded = loading.get_config(value)
    help_text = (f"Config file, FILE[:ARGS] (here {value}); --config.KEY=VALUE overrides a key.")
  _state["config"] = loaded
  # Its --config.* overrides are found in the command line without the --config=FILE
  # itself, which is not absl's to parse (it is loaded already).
  try:
    config_flags.DEFINE_config_dict("config", loaded, help_text, lock_config=lock_config,
                                    sys_argv=_config_value(argv)[1])
  except AttributeError as e:  # an override of a key the config lacks
    raise UserError(_unknown_key_message(argv, e, loaded)) from None


def run(main, define_flags=None, config=CONFIG_FILE, default_config: str | None = None,
        lock_config: bool = True, stop_anywhere: str | None = None) -> None:
  """Runs a command: defines its flags (`define_flags()`, the config's), parses them with
  every mistake as one `error:` line, then runs `main(argv)` with a UserError as one
  `error:` line and a stop signal's message printed (exit 128 + the signal); stop
  signals are held from the command's first import (lenet_jax/__init__.py): one that came
  while the libraries imported ends the command here, one during its start-up is seen by
  the work.

  A command that saves as it goes stops itself at its safe points
  (`lenet_jax.common.preemption`). One whose work may be dropped at any moment (it writes
  its result at the end, in one piece) names what a stop leaves in `stop_anywhere`
  ('nothing was written'): a stop then ends it at once, whatever it is doing."""
  with preemption.StopSignals() as stop:
    try:
      if define_flags is not None:
        define_flags()
      _define_config(list(sys.argv), config, default_config, lock_config)
    except UserError as e:
      if stop.signum is None:
        print(f"error: {e}", file=sys.stderr, flush=True)
        sys.exit(1)
    if stop.signum is not None:  # came while the command's libraries imported
      print(stop.stopped("before the command began; nothing was done"), flush=True)
      sys.exit(128 + stop.signum)
    body = main
    if stop_anywhere is not None:
      body = lambda argv: stop.wait_for(lambda: main(argv), stop_anywhere)  # noqa: E731
    app.run(exit_on_user_error(body), flags_parser=_parse_or_exit)


def begin(argv, positional: bool = False, **required) -> None:
  """A command's first lines: plain log lines with the libraries' INFO chatter dropped,
  no stray arguments (unless `positional`), each flag in `required` (name -> what it is)
  given, else one `error:` line."""
  logs.plain()
  if len(argv) > 1 and not positional:
    raise UserError(f"unexpected argument(s) {' '.join(argv[1:])}: every option is a flag "
                    "(--name=value); --help lists them")
  for name, what in required.items():
    if not flags.FLAGS[name].value:
      raise UserError(f"--{name} is required: {what}")

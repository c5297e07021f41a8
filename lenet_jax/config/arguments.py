"""The `--config=file.py:ARGS` argument a config file's `get_config(arg)` takes (big_vision's
idiom), parsed strictly: a word the file does not know is one error line naming the words
it does know, never a silent default."""

import difflib
import os

from lenet_jax.common.errors import UserError

SWITCH_VALUES = {"true": True, "1": True, "false": False, "0": False}


def parse(arg: str, allowed: dict, path: str) -> dict:
  """'data=fashion_mnist,runlocal' -> {'data': 'fashion_mnist', 'runlocal': True}.

  `allowed` maps each word the config file `path` takes to its value's form: a
  description such as 'NAME' (the word takes `=value`), or None (a switch, also written
  `word=True` or `word=False`). Anything else raises a UserError naming the words `path`
  takes.
  """
  where = os.path.relpath(path) if os.path.isabs(path) else path
  out = {}
  for item in filter(None, (arg or "").split(",")):
    key, eq, value = (part.strip() for part in item.partition("="))
    if key not in allowed:
      close = difflib.get_close_matches(key, list(allowed), n=1)
      raise UserError(f"--config={where}:{arg}: {where} takes no argument {key!r}"
                      + (f" (did you mean {close[0]!r}?)" if close else "")
                      + f"; it takes {describe(allowed)}")
    switch = allowed[key] is None
    if switch and eq and value.lower() in SWITCH_VALUES:
      out[key] = SWITCH_VALUES[value.lower()]
      continue
    if switch == bool(eq):
      form = key if switch else f"{key}={allowed[key]}"
      raise UserError(f"--config={where}:{arg}: write {form!r}; {where} takes {describe(allowed)}")
    out[key] = value if eq else True
  return out


def describe(allowed: dict) -> str:
  return ", ".join(k if form is None else f"{k}={form}" for k, form in allowed.items())


def number(args: dict, key: str, kind, default, path: str):
  """`args[key]` as `kind` (int or float), or `default` when the argument is absent."""
  if key not in args:
    return default
  try:
    return kind(args[key])
  except ValueError:
    raise UserError(f"--config={path}:...{key}={args[key]}: {key} must be "
                    f"{'an integer' if kind is int else 'a number'}") from None

"""XLA's cheap settings for tests (tests/conftest.py chooses them per test): while
jax_disable_most_optimizations is on, every compilation also uses XLA CPU's loop
emitters for fusions in place of its newer fusion emitters
(xla_cpu_use_fusion_emitters=False), which compiled the tiny LeNet-5's command in about
half the time (experiments/test_suite).

jax has no setting for compiler options of every compilation, so `install` wraps
jax._src.compiler.get_compile_options (jax 0.10.2, as pinned in requirements.lock).
The suite and the commands forked from tests/command_zygote.py install it; a command
started as a new interpreter compiles with jax_disable_most_optimizations alone."""

import jax
from jax._src import compiler

OPTIONS = {"xla_cpu_use_fusion_emitters": False}
_original = compiler.get_compile_options
_last = {}  # the options the last compilation through the wrapper was given


def _get_compile_options(*args, env_options_overrides=None, **kwargs):
  if jax.config.values["jax_disable_most_optimizations"]:
    env_options_overrides = {**OPTIONS, **(env_options_overrides or {})}
  _last.clear()
  _last.update(env_options_overrides or {})
  return _original(*args, env_options_overrides=env_options_overrides, **kwargs)


def install() -> None:
  compiler.get_compile_options = _get_compile_options


def installed() -> bool:
  return compiler.get_compile_options is _get_compile_options


def options_in_use() -> dict:
  """The options a compilation is given now (none with XLA's defaults), seen by
  compiling a new program through jax.jit ({'wrapper': False} if jax did not call the
  wrapper)."""
  if not installed():
    return {}
  _last.clear()
  _last["wrapper"] = False
  jax.jit(lambda x: x + 1).lower(1.0).compile()
  return dict(_last)

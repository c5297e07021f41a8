"""The suite's own settings (tests/conftest.py): which tests compile with XLA's cheap
settings and which with its defaults."""

import os

import conftest
import jax
import pytest

_NO_ZYGOTE = bool(os.environ.get("LENET_JAX_TEST_NO_ZYGOTE"))
_HERE = os.path.dirname(os.path.abspath(__file__))  # where print_xla_setting.py is


def test_unmarked_tests_compile_with_the_suite_s_setting():
  assert jax.config.values["jax_disable_most_optimizations"] == conftest._CHEAP_XLA
  assert conftest._zygote_fits(conftest.command_env()) or _NO_ZYGOTE  # forked, as set up
  out = conftest.run_command("print_xla_setting", cwd=_HERE).stdout
  assert out.strip() == str(conftest._CHEAP_XLA)


@pytest.mark.full_xla
def test_full_xla_tests_and_their_commands_compile_with_xla_s_defaults():
  assert jax.config.values["jax_disable_most_optimizations"] is False
  env = conftest.command_env()
  assert env["JAX_DISABLE_MOST_OPTIMIZATIONS"] == "0"
  assert conftest._zygote_fits(env) or _NO_ZYGOTE  # each forked command applies it
  out = conftest.run_command("print_xla_setting", cwd=_HERE).stdout
  assert out.strip() == "False"

"""The suite's own settings (tests/conftest.py): which tests compile with XLA's cheap
settings and which with its defaults."""

import os

import cheap_xla
import conftest
import jax
import pytest

_NO_ZYGOTE = bool(os.environ.get("LENET_JAX_TEST_NO_ZYGOTE"))
_HERE = os.path.dirname(os.path.abspath(__file__))  # where print_xla_setting.py is


_NO_EMITTERS = bool(os.environ.get("LENET_JAX_TEST_NO_CHEAP_EMITTERS"))


def _emitters(cheap: bool) -> list:
  return sorted(cheap_xla.OPTIONS) if cheap and not _NO_EMITTERS else []


def test_unmarked_tests_compile_with_the_suite_s_setting():
  assert jax.config.values["jax_disable_most_optimizations"] == conftest._CHEAP_XLA
  assert sorted(cheap_xla.options_in_use()) == _emitters(conftest._CHEAP_XLA)
  assert conftest._zygote_fits(conftest.command_env()) or _NO_ZYGOTE  # forked, as set up
  out = conftest.run_command("print_xla_setting", cwd=_HERE).stdout
  cheap = conftest._CHEAP_XLA
  # a new interpreter (no zygote) has jax's setting, not the emitters
  assert out.strip() == f"{cheap} {_emitters(cheap and not _NO_ZYGOTE)}"


@pytest.mark.full_xla
def test_full_xla_tests_and_their_commands_compile_with_xla_s_defaults():
  assert jax.config.values["jax_disable_most_optimizations"] is False
  assert cheap_xla.options_in_use() == {}
  env = conftest.command_env()
  assert env["JAX_DISABLE_MOST_OPTIMIZATIONS"] == "0"
  assert conftest._zygote_fits(env) or _NO_ZYGOTE  # each forked command applies it
  out = conftest.run_command("print_xla_setting", cwd=_HERE).stdout
  assert out.strip() == "False []"


def test_a_forked_command_has_a_backend_of_its_own():
  # The zygote imports JAX but never a backend: a child reads its own XLA_FLAGS. (A backend
  # made before the fork would be shared, with the suite's 4 fake devices.)
  env = conftest.command_env(XLA_FLAGS="--xla_force_host_platform_device_count=3")
  assert conftest._zygote_fits(env) or _NO_ZYGOTE
  out = conftest.run_command("print_device_count", cwd=_HERE, env=env)
  assert out.returncode == 0, out.stderr
  assert out.stdout.strip() == "3"


def test_a_forked_command_finds_the_zygote_s_imports_frozen():
  # The interpreter's shutdown collects garbage: the zygote's gc.freeze() keeps its imports
  # out of that walk (0.68 -> 0.15 s a command; experiments/test_suite/README.md).
  out = conftest.run_command("print_gc_frozen", cwd=_HERE)
  assert out.returncode == 0, out.stderr
  assert (int(out.stdout) > 100_000) != _NO_ZYGOTE, out.stdout


def test_the_fast_bitwise_comparison_fails_where_numpy_s_does():
  import numpy as np
  a = np.linspace(0, 1, 1000, dtype=np.float32)
  b = a.copy()
  b[500] = np.nextafter(b[500], np.float32(2))  # one unit in the last place
  for x, y in ((a, b), (a, a[:-1]), (a, a.astype(np.float64) + 1e-9)):
    with pytest.raises(AssertionError):
      conftest.assert_bitwise_equal(x, y)
  nan = np.array([1.0, np.nan], np.float32)
  conftest.assert_bitwise_equal(nan, nan.copy())  # NaN where NaN, as numpy's
  conftest.assert_bitwise_equal(a, a.copy())
  conftest.assert_bitwise_equal(a, a.astype(np.float64))  # equal values, as numpy's

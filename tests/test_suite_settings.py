"""The suite's own settings (tests/conftest.py): which tests compile with XLA's cheap
settings and which with its defaults."""

import conftest
import jax
import pytest


def test_unmarked_tests_compile_with_the_suite_s_setting():
  assert jax.config.values["jax_disable_most_optimizations"] == conftest._CHEAP_XLA


@pytest.mark.full_xla
def test_full_xla_tests_compile_with_xla_s_defaults():
  assert jax.config.values["jax_disable_most_optimizations"] is False

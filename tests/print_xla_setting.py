"""Prints the XLA setting the suite chooses per test, as a command it starts sees it
(run by tests/test_suite_settings.py, forked from tests/command_zygote.py)."""

import jax

print(jax.config.values["jax_disable_most_optimizations"])

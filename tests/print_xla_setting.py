"""Prints the XLA setting the suite chooses per test, as a command it starts sees it
(run by tests/test_suite_settings.py, forked from tests/command_zygote.py)."""

import cheap_xla
import jax

print(jax.config.values["jax_disable_most_optimizations"], sorted(cheap_xla.options_in_use()))

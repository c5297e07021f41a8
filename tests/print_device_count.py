"""Prints the number of devices JAX finds (tests/test_suite_settings.py: a command forked
from the suite's zygote initialises its own backend, with its own XLA_FLAGS)."""

import jax

print(jax.device_count())

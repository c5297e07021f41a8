"""Optimizers that optax does not ship."""

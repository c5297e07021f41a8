"""Sweeps (`python -m lenet_jax.sweep`): a config file's cells (`cells`), trained by
`sweep`, each cell held by one worker at a time, and written up by `results`."""

"""Timing the training step and where its time goes."""

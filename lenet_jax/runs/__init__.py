"""Run directories: what they record, their checkpoints and metrics, and the read-only work on finished runs."""

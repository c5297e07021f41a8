"""Metrics out of a run: one JSON object per line in metrics.jsonl, plus TensorBoard."""

import json
import math
import os


class MetricWriter:
  """Appends JSON lines to `<workdir>/metrics.jsonl` and scalars to TensorBoard event files."""

  def __init__(self, workdir: str):
    self.path = os.path.join(workdir, "metrics.jsonl")
    from tensorboardX import SummaryWriter  # writes event files without TensorFlow
    self._tb = SummaryWriter(workdir)

  def write(self, record: dict) -> None:
    with open(self.path, "a") as f:
      f.write(json.dumps(record) + "\n")
    step = record["step"]
    for key, value in record.items():
      if key not in ("epoch", "step") and isinstance(value, (int, float)) and math.isfinite(value):
        self._tb.add_scalar(key, value, step)
    self._tb.flush()

  def close(self) -> None:
    self._tb.close()


def read(workdir: str) -> list[dict]:
  path = os.path.join(workdir, "metrics.jsonl")
  if not os.path.exists(path):
    return []
  with open(path) as f:
    return [json.loads(line) for line in f if line.strip()]


def truncate(workdir: str, last_epoch: int) -> list[dict]:
  """Drops records after `last_epoch` (written after the last checkpoint); returns the rest."""
  kept = [r for r in read(workdir) if r["epoch"] <= last_epoch]
  path = os.path.join(workdir, "metrics.jsonl")
  if os.path.exists(path):
    with open(path, "w") as f:
      f.writelines(json.dumps(r) + "\n" for r in kept)
  return kept

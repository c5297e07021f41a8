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


def test_fields(scores, index=None) -> dict:
  """{test_loss, test_accuracy[, test_top5_accuracy]} of `steps.make_evaluate`'s scores
  (of seed `index` where they carry a seed axis), as metrics.jsonl records them."""
  pick = (lambda v: v) if index is None else (lambda v: v[index])
  return {f"test_{key}": float(pick(scores[key]))
          for key in ("loss", "accuracy", "top5_accuracy") if key in scores}


def read_jsonl(path: str) -> list[dict]:
  """The JSON objects of a JSON-lines file, or [] when it does not exist."""
  if not os.path.exists(path):
    return []
  with open(path) as f:
    return [json.loads(line) for line in f if line.strip()]


def read(workdir: str) -> list[dict]:
  return read_jsonl(os.path.join(workdir, "metrics.jsonl"))


def truncate(workdir: str, last_epoch: int, last_step: int) -> list[dict]:
  """Drops epoch records after `last_epoch` and step losses after `last_step` (written
  after the checkpoint a run resumes from); returns the epoch records kept."""
  kept = [r for r in read(workdir) if r["epoch"] <= last_epoch]
  path = os.path.join(workdir, "metrics.jsonl")
  if os.path.exists(path):
    with open(path, "w") as f:
      f.writelines(json.dumps(r) + "\n" for r in kept)
  steps_path = os.path.join(workdir, "steps.jsonl")
  if os.path.exists(steps_path):
    with open(steps_path) as f:
      lines = [line for line in f if line.strip() and json.loads(line)["step"] <= last_step]
    with open(steps_path, "w") as f:
      f.writelines(lines)
  return kept


def write_step_losses(workdir: str, first_step: int, losses) -> None:
  """Appends {"step", "loss"} lines to `<workdir>/steps.jsonl` (config.log_step_losses)."""
  with open(os.path.join(workdir, "steps.jsonl"), "a") as f:
    for i, loss in enumerate(losses):
      f.write(json.dumps({"step": first_step + i, "loss": float(loss)}) + "\n")


def read_step_losses(workdir: str) -> list[dict]:
  return read_jsonl(os.path.join(workdir, "steps.jsonl"))

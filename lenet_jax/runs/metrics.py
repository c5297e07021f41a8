"""Metrics out of a run: one JSON object per line in metrics.jsonl, plus TensorBoard."""

import json
import math
import os

import jax.numpy as jnp
import numpy as np

from lenet_jax.common.errors import UserError

NO_STEP = np.iinfo(np.int32).max  # "no non-finite step yet"


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


def read_jsonl(path: str) -> list[dict]:
  """The JSON objects of a JSON-lines file, or [] when it does not exist. A last line cut
  short (a process killed while appending it) is left out; any other line that is not JSON
  is one UserError naming the file and line."""
  if not os.path.exists(path):
    return []
  with open(path) as f:
    lines = f.read().split("\n")
  records = []
  for number, line in enumerate(lines, 1):
    if not line.strip():
      continue
    try:
      records.append(json.loads(line))
    except ValueError:
      if number == len(lines):  # no newline after it: a write cut short
        continue
      raise UserError(f"{path}, line {number} is not a JSON record; restore the file or "
                      "remove that line") from None
  return records


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
    kept_steps = [r for r in read_jsonl(steps_path) if r["step"] <= last_step]
    with open(steps_path, "w") as f:
      f.writelines(json.dumps(r) + "\n" for r in kept_steps)
  return kept


def write_step_losses(workdir: str, first_step: int, losses) -> None:
  """Appends {"step", "loss"} lines to `<workdir>/steps.jsonl` (config.log_step_losses)."""
  with open(os.path.join(workdir, "steps.jsonl"), "a") as f:
    for i, loss in enumerate(losses):
      f.write(json.dumps({"step": first_step + i, "loss": float(loss)}) + "\n")


def read_step_losses(workdir: str) -> list[dict]:
  return read_jsonl(os.path.join(workdir, "steps.jsonl"))


def zero_sums():
  """The metric sums of an epoch before its first step: summed loss, correct predictions,
  examples, and the first step whose loss or gradients were not finite (a checkpoint
  taken mid-epoch carries them)."""
  return {"loss": jnp.zeros((), jnp.float32), "correct": jnp.zeros((), jnp.int32),
          "count": jnp.zeros((), jnp.int32), "first_nonfinite": jnp.asarray(NO_STEP, jnp.int32)}


def merge_sums(a, b):
  return {"loss": a["loss"] + b["loss"], "correct": a["correct"] + b["correct"],
          "count": a["count"] + b["count"],
          "first_nonfinite": jnp.minimum(a["first_nonfinite"], b["first_nonfinite"])}

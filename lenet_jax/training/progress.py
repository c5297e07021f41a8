"""The training loop's progress bar (a terminal only): it counts a dispatch once the
next one has been dispatched and it has finished, so the host never waits on the step
it has just queued.

Waiting on the newest dispatch would leave the device idle while the host reads and
transfers the next batch (for streamed or prepared input, every step); waiting one
dispatch behind keeps a step queued behind the one the device runs.
"""

import sys

import jax


class StepBar:
  """`dispatched(marker, steps)` after each compiled call, `marker` one of its outputs
  (not a donated input); `close()` after the epoch's results have been fetched."""

  def __init__(self, total: int, desc: str):
    from tqdm import tqdm
    self.bar = tqdm(total=total, desc=desc, leave=False, unit="step")
    self.pending = None

  def dispatched(self, marker, steps: int):
    if self.pending is not None:
      jax.block_until_ready(self.pending[0])
      self.bar.update(self.pending[1])
    self.pending = (marker, steps)

  def close(self):
    if self.pending is not None:
      self.bar.update(self.pending[1])
    self.bar.close()


def step_bar(total: int, desc: str) -> StepBar | None:
  """A StepBar when standard output is a terminal, else None."""
  return StepBar(total, desc) if sys.stdout.isatty() else None

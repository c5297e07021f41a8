"""The training loop's progress: a bar on a terminal, a plain line every
`config.progress_secs` seconds otherwise (a SLURM log, a file, a pipe).

Both count a dispatch as done only once it has finished, and neither waits on the
step just queued: waiting on the newest dispatch would leave the device idle while
the host reads and transfers the next batch (for streamed or prepared input, every
step). The bar waits one dispatch behind; the line waits only when a line is due.
"""

import sys
import time

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


class StepLines:
  """The same calls as StepBar; prints `<desc>: step k/n (p%), r steps/s` once
  `every` seconds have passed since the last line (or the start), counting the
  steps finished before the newest dispatch."""

  def __init__(self, total: int, desc: str, every: float, out=None, clock=time.monotonic):
    self.total, self.desc, self.every = total, desc, every
    self.out, self.clock = out or sys.stdout, clock
    self.start = self.last = clock()
    self.done = 0  # steps dispatched before the pending one
    self.pending = None

  def dispatched(self, marker, steps: int):
    if self.pending is not None:
      self.done += self.pending[1]
      if self.clock() - self.last >= self.every:
        jax.block_until_ready(self.pending[0])  # those steps have finished
        now = self.clock()
        rate = self.done / max(now - self.start, 1e-9)
        print(f"{self.desc}: step {self.done}/{self.total} ({100 * self.done / self.total:.0f}%), "
              f"{rate:,.1f} steps/s", file=self.out, flush=True)
        self.last = now
    self.pending = (marker, steps)

  def close(self):
    pass


def step_progress(total: int, desc: str, every: float) -> StepBar | StepLines | None:
  """A StepBar when standard output is a terminal; else StepLines every `every`
  seconds, or None when `every` is 0."""
  if sys.stdout.isatty():
    return StepBar(total, desc)
  return StepLines(total, desc, every) if every > 0 else None

"""`main --profile_dir`: a jax.profiler trace of a few steps of a real run, and the
time per XLA operation of its compiled training call (`lenet_jax.training.profiling`).

The trace starts at this invocation's second training call (the first compiles) and
covers whole calls until `steps` steps have run, so it sees the run's own input
pipeline, batch size and placement, unlike `lenet_jax.benchmark`'s random resident
batches.
"""

import jax

from lenet_jax.training import profiling


class StepTrace:
  """`before(fn, args, steps)` before each training call and `after(outputs)` after
  it; `finish()` when the run's calls end (a run shorter than the trace)."""

  def __init__(self, directory: str, steps: int, say):
    self.directory, self.steps, self.say = directory, steps, say
    self.calls = 0  # training calls seen
    self.traced = 0  # steps dispatched under the trace
    self.hlo = None  # the traced call's compiled program, while tracing
    self.done = False

  def before(self, fn, args, steps: int) -> None:
    self.calls += 1
    if self.done or self.calls < 2:
      return
    if self.hlo is None:
      jax.block_until_ready(args[0])  # the calls before it are not traced
      self.hlo = fn.lower(*args).compile().as_text()
      jax.profiler.start_trace(self.directory, create_perfetto_trace=True)
    self.traced += steps

  def after(self, outputs) -> None:
    if self.hlo is not None and not self.done and self.traced >= self.steps:
      self._stop(outputs)

  def finish(self, outputs=None) -> None:
    if self.done:
      return
    if self.hlo is None:
      self.done = True
      self.say(f"profile: nothing traced; the run made {self.calls} training call(s) and the "
               "first compiles (train longer, or lower config.steps_per_scan)")
      return
    self._stop(outputs)

  def _stop(self, outputs) -> None:
    jax.block_until_ready(outputs)
    jax.profiler.stop_trace()
    self.done = True
    rows = profiling.summarize(profiling.latest_trace(self.directory), self.hlo, self.traced)
    self.say("profile: " + profiling.report(rows, self.traced, self.directory))

"""main --profile_dir's trace: whole training calls from the second on (the first compiles)."""

import jax
import jax.numpy as jnp

from lenet_jax.training import tracing


def test_the_trace_leaves_out_the_compiling_call_and_stops_after_its_steps(monkeypatch):
  started, stopped = [], []
  trace = tracing.StepTrace("/unused", steps=4, say=print)
  monkeypatch.setattr(tracing.jax.profiler, "start_trace",
                      lambda *a, **k: started.append(trace.calls))

  def stop(outputs):
    stopped.append(trace.traced)
    trace.done = True

  monkeypatch.setattr(trace, "_stop", stop)
  fn, x = jax.jit(lambda x: x + 1), jnp.zeros(3)
  for _ in range(4):  # four calls of 2 steps
    trace.before(fn, (x,), 2)
    x = fn(x)
    trace.after(x)
  trace.finish(x)
  assert started == [2] and stopped == [4]  # calls 2 and 3, once

import json, os, time
import jax
import pytest

_stats = {"n": 0, "s": 0.0}
def _listener(event, duration, **kw):
  if event == "/jax/core/compile/backend_compile_duration":
    _stats["n"] += 1
    _stats["s"] += duration
jax.monitoring.register_event_duration_secs_listener(_listener)
_out = open(f"/tmp/cp/compiles_{os.environ.get('PYTEST_XDIST_WORKER', 'main')}.jsonl", "a")

@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
  n, s, t = _stats["n"], _stats["s"], time.perf_counter()
  yield
  _out.write(json.dumps({"test": item.nodeid, "n": _stats["n"] - n, "compile_s": _stats["s"] - s,
                         "total_s": time.perf_counter() - t}) + "\n")
  _out.flush()

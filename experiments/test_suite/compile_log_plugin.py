"""A pytest plugin that logs every XLA compilation JAX reports (jax_log_compiles: the
function and its seconds, a persistent-cache load included) and every test's time, one
JSON line each, per xdist worker, into $COMPILE_LOG_DIR (default /tmp/compile_log).

  PYTHONPATH=experiments/test_suite .venv/bin/python -m pytest -q -n 2 \\
      -p compile_log_plugin tests

The steps_*.jsonl files here join the two workers' lines per test (summary.py).
"""

import json
import logging
import os
import re
import time

import jax
import pytest

_DIR = os.environ.get("COMPILE_LOG_DIR", "/tmp/compile_log")
os.makedirs(_DIR, exist_ok=True)
_out = open(os.path.join(_DIR, f"compiles_{os.environ.get('PYTEST_XDIST_WORKER', 'main')}.jsonl"),
            "a")
_current = {"test": None}
_FINISHED = re.compile(r"Finished XLA compilation of (.*) in ([0-9.e-]+) sec")
_HIT = re.compile(r"[Pp]ersistent compilation cache hit for '?([^' ]+)")


class _Handler(logging.Handler):

  def emit(self, record):
    message = record.getMessage()
    if m := _FINISHED.search(message):
      _out.write(json.dumps({"test": _current["test"], "fn": m.group(1),
                             "s": float(m.group(2))}) + "\n")
    if m := _HIT.search(message):
      _out.write(json.dumps({"test": _current["test"], "hit": m.group(1)}) + "\n")


jax.config.update("jax_log_compiles", True)
_logger = logging.getLogger("jax")
_logger.addHandler(_Handler(level=logging.DEBUG))
_logger.setLevel(logging.DEBUG)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
  _current["test"] = item.nodeid
  start = time.perf_counter()
  yield
  _out.write(json.dumps({"test": item.nodeid, "total_s": time.perf_counter() - start}) + "\n")
  _out.flush()

"""A pytest plugin that logs each test's wall time and CPU seconds (its worker's own, and
its worker's waited-for children's: commands started as new interpreters), one JSON line
each, per xdist worker, into $CPU_LOG_DIR (default /tmp/cpu_log). Commands forked from
tests/command_zygote.py are children of the zygote, not of the worker: with
zygote_wait4.patch applied to tests/command_zygote.py, the zygote logs each one's CPU
seconds (os.wait4) with the test that started it (PYTEST_CURRENT_TEST) into
$CPU_LOG_DIR/zygote.jsonl.

  git apply experiments/test_suite/zygote_wait4.patch
  PYTHONPATH=experiments/test_suite CPU_LOG_DIR=/tmp/cpu_log \\
      .venv/bin/python -m pytest -q -n 2 tests -p cpu_plugin
  git apply -R experiments/test_suite/zygote_wait4.patch
  python experiments/test_suite/summary.py --cpu /tmp/cpu_log
"""

import json
import os
import resource
import time

import pytest

_DIR = os.environ.get("CPU_LOG_DIR", "/tmp/cpu_log")
os.makedirs(_DIR, exist_ok=True)
_out = open(os.path.join(_DIR, f"tests_{os.environ.get('PYTEST_XDIST_WORKER', 'main')}.jsonl"),
            "a")


def _cpu(who):
  r = resource.getrusage(who)
  return r.ru_utime + r.ru_stime


_out.write(json.dumps({"start": True, "self": _cpu(resource.RUSAGE_SELF), "t": time.time()})
           + "\n")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
  own, children = _cpu(resource.RUSAGE_SELF), _cpu(resource.RUSAGE_CHILDREN)
  start = time.perf_counter()
  yield
  _out.write(json.dumps({"test": item.nodeid, "wall": time.perf_counter() - start,
                         "self": _cpu(resource.RUSAGE_SELF) - own,
                         "children": _cpu(resource.RUSAGE_CHILDREN) - children}) + "\n")
  _out.flush()


def pytest_sessionfinish(session):
  _out.write(json.dumps({"end": True, "self": _cpu(resource.RUSAGE_SELF),
                         "children": _cpu(resource.RUSAGE_CHILDREN), "t": time.time()}) + "\n")
  _out.flush()

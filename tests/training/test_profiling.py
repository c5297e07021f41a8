import gzip
import json

import jax
import jax.numpy as jnp
import pytest

from lenet_jax.training import profiling


def _write_trace(path, events, processes, threads=None):
  meta = [{"ph": "M", "name": "process_name", "pid": pid, "args": {"name": name}}
          for pid, name in processes.items()]
  meta += [{"ph": "M", "name": "thread_name", "pid": pid, "tid": tid, "args": {"name": name}}
           for (pid, tid), name in (threads or {}).items()]
  with gzip.open(path, "wt") as f:
    json.dump({"traceEvents": meta + events}, f)


def _op(pid, ts, dur, op, module="jit_step", tid=1):
  return {"ph": "X", "pid": pid, "tid": tid, "ts": ts, "dur": dur, "name": op,
          "args": {"hlo_op": op, "hlo_module": module}}


def test_op_times_counts_nested_operations_once(tmp_path):
  path = tmp_path / "perfetto_trace.json.gz"
  # A loop (while.1, 100 us) whose body ran two operations (30 + 50 us), a
  # sibling after it, an operation of another module, and a host event without hlo_op.
  events = [_op(1, 0, 100, "while.1"), _op(1, 10, 30, "dot.2"), _op(1, 45, 50, "fusion.3"),
            _op(1, 100, 20, "fusion.3"), _op(1, 200, 999, "other", module="jit_other"),
            {"ph": "X", "pid": 1, "tid": 1, "ts": 0, "dur": 5000, "name": "PjitFunction"}]
  _write_trace(path, events, {1: "/host:CPU"})
  times = profiling.op_times(str(path), module="jit_step")
  assert times == pytest.approx({"while.1": 20e-6, "dot.2": 30e-6, "fusion.3": 70e-6})
  assert "other" in profiling.op_times(str(path), module="jit_renamed")  # no match: all modules


def test_op_times_prefers_the_device_streams(tmp_path):
  path = tmp_path / "perfetto_trace.json.gz"
  # The host's launch of a kernel also carries hlo_op; the device's kernel time counts.
  events = [_op(1, 0, 5, "fusion.1"), _op(2, 3, 40, "fusion.1", tid=7), _op(2, 50, 10, "dot.2", tid=8)]
  _write_trace(path, events, {1: "/host:CPU", 2: "/device:GPU:0"})
  assert profiling.op_times(str(path)) == pytest.approx({"fusion.1": 40e-6, "dot.2": 10e-6})
  # A device event without an XLA operation (a copy, say) counts under its own name.
  events.append({"ph": "X", "pid": 2, "tid": 9, "ts": 70, "dur": 4, "name": "MemcpyD2D"})
  _write_trace(path, events, {1: "/host:CPU", 2: "/device:GPU:0"})
  assert profiling.op_times(str(path))["MemcpyD2D"] == pytest.approx(4e-6)


def test_op_times_reads_a_gpus_streams_not_its_derived_lines(tmp_path):
  path = tmp_path / "perfetto_trace.json.gz"
  kernels = [_op(2, 0, 40, "fusion.1", tid=7), _op(2, 50, 10, "dot.2", tid=8)]
  derived = [_op(2, 0, 40, "fusion.1", tid=100), _op(2, 50, 10, "dot.2", tid=100),
             {"ph": "X", "pid": 2, "tid": 101, "ts": 0, "dur": 60, "name": "jit_step(1)"}]
  _write_trace(path, kernels + derived, {1: "/host:CPU", 2: "/device:GPU:0 (pid 2)"},
               {(2, 7): "Stream #13(Compute)", (2, 8): "Stream #14(Compute)",
                (2, 100): "XLA Ops", (2, 101): "XLA Modules"})
  assert profiling.op_times(str(path)) == pytest.approx({"fusion.1": 40e-6, "dot.2": 10e-6})


def test_latest_trace_and_missing_trace(tmp_path):
  with pytest.raises(FileNotFoundError):
    profiling.latest_trace(str(tmp_path))


def test_describe_names_the_jax_operation_and_source_line():
  def loss(x, w):
    return jnp.tanh(x @ w).sum()  # the line the product comes from

  compiled = jax.jit(jax.grad(loss)).lower(jnp.ones((8, 8)), jnp.ones((8, 8))).compile()
  text = compiled.as_text()
  assert profiling.module_name(text) == "jit_loss"
  ops = profiling.describe(text)
  products = [d for d in ops.values() if d["op_name"].endswith("dot_general")]
  assert products and all(d["source"].startswith("test_profiling.py:") for d in products)
  line = int(products[0]["source"].split(":")[1])
  assert "x @ w" in open(__file__).read().splitlines()[line - 1]
  # Fusions are named by their root's opcode.
  assert any(d["opcode"].startswith("fusion:") for d in ops.values())


def test_a_traced_step_is_summarised(tmp_path):
  f = jax.jit(lambda x: jnp.tanh(x @ x).sum())
  x = jnp.ones((64, 64))
  compiled = f.lower(x).compile()
  compiled(x).block_until_ready()
  with jax.profiler.trace(str(tmp_path), create_perfetto_trace=True):
    for _ in range(3):
      compiled(x).block_until_ready()
  rows = profiling.summarize(profiling.latest_trace(str(tmp_path)), compiled.as_text(), steps=3)
  assert rows and sum(r["share"] for r in rows) == pytest.approx(1.0)
  assert rows == sorted(rows, key=lambda r: -r["share"])
  assert all(r["ms_per_step"] > 0 for r in rows)
  assert "ms/step" in profiling.table(rows)

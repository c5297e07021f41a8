"""Where a compiled step's time goes: a profiler trace, summed per XLA operation.

`jax.profiler.trace` writes a trace that Perfetto or TensorBoard can open; this
module also reads it back (`perfetto_trace.json.gz`) and sums the time of each
XLA operation of one compiled program: kernel time on the device's streams
where the trace has a device (a GPU), or the runtime's per-operation time on
the host where it has none (a CPU). Each operation is named with what the
compiled program's metadata says it came from: the JAX operation and the
source line that emitted it.
"""

import collections
import glob
import gzip
import json
import os
import re

_INSTRUCTION = re.compile(r"^\s*(?:ROOT\s+)?%?([\w.\-]+)\s*=\s*(.*?)\s([a-z][\w\-]*)\(")
_OP_NAME = re.compile(r'op_name="([^"]*)"')
_SOURCE = re.compile(r'source_file="([^"]*)"\s+source_line=(\d+)')
_FRAME = re.compile(r"stack_frame_id=(\d+)")
_COMPUTATION = re.compile(r"^(?:ENTRY\s+)?%?([\w.\-]+)\s.*\{\s*$")
_CALLS = re.compile(r"calls=%?([\w.\-]+)")
_TABLE_ROW = re.compile(r'^(\d+) (.*)$')


def latest_trace(directory: str) -> str:
  """The newest `perfetto_trace.json.gz` that `jax.profiler.trace` wrote under `directory`."""
  paths = glob.glob(os.path.join(directory, "**", "perfetto_trace.json.gz"), recursive=True)
  if not paths:
    raise FileNotFoundError(f"no perfetto_trace.json.gz under {directory}")
  return max(paths, key=os.path.getmtime)


def _exclusive(events):
  """Each event's duration less that of the events nested in it (same thread)."""
  out = []
  stack = []  # (end, index into out)
  for e in sorted(events, key=lambda e: (e["ts"], -e["dur"])):
    while stack and stack[-1][0] <= e["ts"]:
      stack.pop()
    if stack:
      out[stack[-1][1]][1] -= e["dur"]
    out.append([e, e["dur"]])
    stack.append((e["ts"] + e["dur"], len(out) - 1))
  return out


def op_times(trace_path: str, module: str | None = None) -> dict[str, float]:
  """Seconds per XLA operation (`hlo_op`) in the trace, optionally of one `module`.

  A device's streams are used when the trace has events on a device (its
  kernels; lines derived from them are left out), the host's threads
  otherwise; nested operations (a loop and its body) count once. Device events
  that name no XLA operation are summed by their own (kernel) name. If no event
  names `module` (a runtime that spells it differently), every module counts.
  """
  with gzip.open(trace_path, "rt") as f:
    trace = json.load(f)
  events = trace["traceEvents"] if isinstance(trace, dict) else trace
  processes = {e["pid"]: e["args"]["name"] for e in events
               if e.get("ph") == "M" and e.get("name") == "process_name"}
  timed = [e for e in events if e.get("ph") == "X" and "dur" in e
           and (module is None or e.get("args", {}).get("hlo_module", module) == module)]
  thread_names = {(e["pid"], e.get("tid")): e["args"]["name"] for e in events
                  if e.get("ph") == "M" and e.get("name") == "thread_name"}
  on_device = [e for e in timed if not processes.get(e["pid"], "/host").startswith("/host")]
  # A GPU's lines are its streams' kernels plus lines derived from them ("XLA
  # Ops", "XLA Modules", ...) that would count the same time again.
  streams = [e for e in on_device
             if thread_names.get((e["pid"], e["tid"]), "").startswith("Stream")]
  if on_device:
    chosen = streams or on_device
  else:
    chosen = [e for e in timed if "hlo_op" in e.get("args", {})]
  threads = collections.defaultdict(list)
  for e in chosen:
    threads[(e["pid"], e["tid"])].append(e)
  seconds = collections.Counter()
  for thread in threads.values():
    for e, self_us in _exclusive(thread):
      seconds[e.get("args", {}).get("hlo_op", e["name"])] += self_us * 1e-6
  if not seconds and module is not None:
    return op_times(trace_path)
  return dict(seconds)


def _stack_frames(hlo_text: str) -> dict[str, str]:
  """stack_frame_id -> 'file.py:line' from the module's FileNames, FileLocations
  and StackFrames tables (a frame's own location: the innermost user frame)."""
  tables, current = collections.defaultdict(dict), None
  for line in hlo_text.splitlines():
    if line in ("FileNames", "FunctionNames", "FileLocations", "StackFrames"):
      current = line
    elif not line.strip():
      current = None
    elif current and (m := _TABLE_ROW.match(line)):
      tables[current][m.group(1)] = m.group(2)
  def fields(row):  # '{file_name_id=1 line=4 ...}' -> {'file_name_id': '1', 'line': '4', ...}
    return dict(re.findall(r"(\w+)=(\d+)", row))

  files = {k: os.path.basename(v.strip('"')) for k, v in tables["FileNames"].items()}
  locations = {k: f"{files.get(f.get('file_name_id'), '?')}:{f.get('line', '?')}"
               for k, f in ((k, fields(v)) for k, v in tables["FileLocations"].items())}
  return {k: locations.get(fields(v).get("file_location_id"), "")
          for k, v in tables["StackFrames"].items()}


def describe(hlo_text: str) -> dict[str, dict]:
  """Per instruction of a compiled HLO module: its opcode, the JAX operation
  (`op_name` metadata) and the source line that emitted it. A fusion is named
  'fusion:<its root's opcode>' and, without metadata of its own, takes its
  root's."""
  frames = _stack_frames(hlo_text)
  out, roots, calls = {}, {}, {}
  computation = None
  for line in hlo_text.splitlines():
    if header := _COMPUTATION.match(line):
      computation = header.group(1)
      continue
    m = _INSTRUCTION.match(line)
    if not m:
      continue
    name, _, opcode = m.groups()
    if line.lstrip().startswith("ROOT"):
      roots[computation] = name
    if called := _CALLS.search(line):
      calls[name] = called.group(1)
    op_name = _OP_NAME.search(line)
    if source := _SOURCE.search(line):
      where = f"{os.path.basename(source.group(1))}:{source.group(2)}"
    else:
      frame = _FRAME.search(line)
      where = frames.get(frame.group(1), "") if frame else ""
    out[name] = {"opcode": opcode, "op_name": op_name.group(1) if op_name else "",
                 "source": where}
  for name, info in out.items():
    root = out.get(roots.get(calls.get(name)), {})
    if info["opcode"] == "fusion" and root:
      info["opcode"] = f"fusion:{root['opcode']}"
    if not info["op_name"] and root.get("op_name"):
      info.update(op_name=root["op_name"], source=root["source"])
  return out


def module_name(hlo_text: str) -> str | None:
  m = re.match(r"\s*HloModule\s+([\w.\-]+)", hlo_text)
  return m.group(1) if m else None


def summarize(trace_path: str, hlo_text: str, steps: int) -> list[dict]:
  """The module's operations by time, largest first: share of the traced total,
  milliseconds per step, opcode, JAX operation and source line."""
  seconds = op_times(trace_path, module_name(hlo_text))
  total = sum(seconds.values())
  info = describe(hlo_text)
  rows = []
  for op, s in sorted(seconds.items(), key=lambda kv: -kv[1]):
    d = info.get(op, {})
    rows.append({"op": op, "share": s / total if total else 0.0, "ms_per_step": 1e3 * s / steps,
                 "opcode": d.get("opcode", ""), "op_name": d.get("op_name", ""),
                 "source": d.get("source", "")})
  return rows


def _short(op_name: str) -> str:
  """The end of a JAX op_name path: 'jit(f)/while/body/jvp(Net)/conv/dot_general' -> 'jvp(Net)/conv/dot_general'."""
  parts = [p for p in op_name.split("/") if p not in ("while", "body", "closed_call")]
  return "/".join(parts[-3:])


def report(rows: list[dict], steps: int, directory: str) -> str:
  """The table of `rows` under a line naming the traced steps and where the trace is."""
  return (f"time per XLA operation over {steps} traced steps (trace under {directory}):\n"
          + table(rows))


def table(rows: list[dict], top: int = 15) -> str:
  """A readable table of the first `top` rows and the rest summed."""
  lines = [f"{'share':>6}  {'ms/step':>8}  {'operation':<28} {'opcode':<22} source, JAX operation"]
  for r in rows[:top]:
    lines.append(f"{100 * r['share']:5.1f}%  {r['ms_per_step']:8.3f}  {r['op'][:28]:<28} "
                 f"{r['opcode'][:22]:<22} {r['source']} {_short(r['op_name'])}")
  rest = rows[top:]
  if rest:
    lines.append(f"{100 * sum(r['share'] for r in rest):5.1f}%  "
                 f"{sum(r['ms_per_step'] for r in rest):8.3f}  ({len(rest)} more operations)")
  return "\n".join(lines)

"""Readers for the stored outputs under experiments/, shared by the table scripts.

The GPU and CPU session logs are the output of shell scripts that print one header line
per command (`### NAME (T s): COMMAND`, or `### T s: COMMAND`) and then what the command
printed; `sections` splits them there. The benchmark's readable line,

  alexnet step batch 256 on NVIDIA H200 (...): 36,853 images/s, 6.947 ms/step, ..., MFU 14.2%

is read by `benchmark_line`; PyTorch's anchor prints one JSON line (`anchor_line`).
"""

import json
import math
import os
import re

EXPERIMENTS = os.path.dirname(os.path.abspath(__file__))
_NAMED = re.compile(r"^(\S+) \([0-9.]+ s\): (.*)$")  # `NAME (T s): COMMAND`
_TIMED = re.compile(r"^[0-9.]+ s: (.*)$")  # `T s: COMMAND`
_BENCHMARK = re.compile(r"([\d,]+) images/s, ([0-9.]+) ms/step, .*MFU ([0-9.]+)%")


def path(*parts: str) -> str:
  return os.path.join(EXPERIMENTS, *parts)


def read_lines(*parts: str) -> list[str]:
  """The lines of a stored file; one error line if it is not there."""
  name = path(*parts)
  if not os.path.exists(name):
    raise SystemExit(f"error: {os.path.relpath(name, EXPERIMENTS)} is missing under experiments/")
  with open(name) as f:
    return f.read().splitlines()


def read_jsonl(*parts: str) -> list[dict]:
  return [json.loads(line) for line in read_lines(*parts) if line.startswith("{")]


def sections(*parts: str) -> list[dict]:
  """[{name, command, lines}] of a session log, one per `###` header, in order (`name`
  is the header's label where it has one, else its position from 0)."""
  found = []
  for line in read_lines(*parts):
    if line.startswith("### "):
      header = line[4:]
      named, timed = _NAMED.match(header), _TIMED.match(header)
      name, command = ((named.group(1), named.group(2)) if named
                       else (str(len(found)), timed.group(1) if timed else header))
      found.append({"name": name, "command": command, "lines": []})
    elif found:
      found[-1]["lines"].append(line)
  return found


def benchmark_line(section: dict) -> dict | None:
  """{images_per_s, step_ms, mfu} of lenet_jax.benchmark's readable line in a section."""
  for line in section["lines"]:
    m = _BENCHMARK.search(line)
    if m and " step batch " in line:
      return {"images_per_s": int(m.group(1).replace(",", "")),
              "step_ms": float(m.group(2)), "mfu": float(m.group(3))}
  return None


def anchor_line(section: dict) -> dict | None:
  """PyTorch's anchor's JSON line in a section."""
  for line in section["lines"]:
    if line.startswith('{"anchor"'):
      return json.loads(line)
  return None


def find(found: list[dict], *words: str, without: tuple[str, ...] = ()) -> dict:
  """The one section whose command holds every word and none of `without`."""
  hits = [s for s in found if all(w in s["command"] for w in words)
          and not any(w in s["command"] for w in without)]
  if len(hits) != 1:
    raise SystemExit(f"error: {len(hits)} sections hold {words} without {without}, not one")
  return hits[0]


def number(text: str) -> float:
  """1,234.5 -> 1234.5"""
  return float(text.replace(",", ""))


def line_value(lines: list[str], pattern: str) -> tuple:
  """The groups of the first line matching `pattern` (a regex)."""
  for line in lines:
    m = re.search(pattern, line)
    if m:
      return m.groups()
  raise SystemExit(f"error: no line matches {pattern!r}")


def significant(x: float, digits: int) -> str:
  """x to `digits` significant digits, trailing zeros kept: 0.0302 -> '0.030' (2)."""
  text = f"{x:#.{digits}g}"
  return text[:-1] if text.endswith(".") else text


def thousands(x: float) -> str:
  """Images a second, short, rounded half up: 37650 -> '37.7k', 483084 -> '483k',
  1377417 -> '1.38M'."""
  if x >= 1e6:
    return f"{math.floor(x / 1e4 + 0.5) / 100:.2f}M"
  if x >= 1e5:
    return f"{math.floor(x / 1e3 + 0.5):.0f}k"
  return f"{math.floor(x / 1e2 + 0.5) / 10:.1f}k"

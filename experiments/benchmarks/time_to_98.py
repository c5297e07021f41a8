"""The time-to-98% table of experiments/benchmarks/README.md, from the per-epoch metrics
stored beside it (one file per machine).

  python experiments/benchmarks/time_to_98.py

Time to 98% is the sum of the epochs' `seconds` (training and evaluation, the first
epoch's compilation included) up to the first epoch whose `test_accuracy` is at least 98%.
"""

import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))


def read_jsonl(path: str) -> list[dict]:
  """The JSON objects of a stored JSON-lines file, or [] when it does not exist."""
  if not os.path.exists(path):
    return []
  with open(path) as f:
    return [json.loads(line) for line in f if line.strip()]
# metrics file -> the machine that wrote it
RUNS = {
    "time_to_98_h100.metrics.jsonl": "one NVIDIA H100 80GB HBM3 (jax 0.11.2), 2026-11-22",
    "time_to_98_h200.metrics.jsonl": "one NVIDIA H200 (jax 0.11.2), 2026-11-27",
    "time_to_98_cpu.metrics.jsonl": "this project's 2-core AMD EPYC VM (jax 0.10.2, `implementation=auto`: matmul, C1 and S2 fused), 2026-11-23",
    "time_to_98_cpu_xeon.metrics.jsonl": "a later session's 2-core Intel Xeon VM (jax 0.10.2, the same code at b5964af), 2026-11-23",
    # earlier runs on the AMD VM (the files as committed in f9fc459 and ce4f90b)
    "time_to_98_cpu_unfused.metrics.jsonl": "the 2-core AMD EPYC VM (jax 0.10.2, matmul before C1 and S2 were fused; f9fc459), 2026-11-23",
    "time_to_98_cpu_xla.metrics.jsonl": "the 2-core AMD EPYC VM (jax 0.10.2, XLA's convolutions; ce4f90b), 2026-11-22",
}


def row(records: list[dict]) -> tuple:
  """(first epoch >= 98%, its step, its accuracy, seconds up to it, first epoch's seconds,
  last epoch, last accuracy)."""
  seconds = 0.0
  for r in records:
    seconds += r["seconds"]
    if r["test_accuracy"] >= 0.98:
      last = records[-1]
      return (r["epoch"], r["step"], r["test_accuracy"], seconds, records[0]["seconds"],
              last["epoch"], last["test_accuracy"])
  raise SystemExit("error: a run never reached 98%")


def main():
  print("| machine | per-epoch metrics | first epoch >= 98% | time to 98% | "
        "of which the first epoch (compilation included) | final |")
  print("|---|---|---|---|---|---|")
  for name, machine in RUNS.items():
    epoch, step, accuracy, seconds, first, last_epoch, last = row(
        read_jsonl(os.path.join(HERE, name)))
    print(f"| {machine} | `{name}` | {epoch} (step {step}), {accuracy:.2%} | "
          f"**{seconds:.1f} s** | {first:.1f} s | {last:.2%} (epoch {last_epoch}) |")


if __name__ == "__main__":
  main()

"""Where the suite's time goes, from after_per_test.jsonl (one line per test: its
in-process XLA compile seconds and its whole time, by compile_plugin.py).

  python experiments/test_suite/summary.py
"""

import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
  with open(os.path.join(HERE, "after_per_test.jsonl")) as f:
    rows = [json.loads(line) for line in f]
  total = sum(r["total_s"] for r in rows)
  compile_s = sum(r["compile_s"] for r in rows)
  print(f"{len(rows)} tests: {total:.0f} s in the two workers, of which {compile_s:.0f} s "
        f"in-process XLA compilation ({compile_s / total:.0%})")
  print("slowest ten:")
  for r in sorted(rows, key=lambda r: -r["total_s"])[:10]:
    print(f"  {r['total_s']:5.1f} s ({r['compile_s']:4.1f} s compiling)  {r['test']}")


if __name__ == "__main__":
  main()

"""The accuracy-floor table of experiments/accuracy_floors/README.md, from results.jsonl."""

import json
import os
import re

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
# measure.py's name for a run -> the test (file, function) whose floor it measures
TESTS = {
    "sdlm_paper_curvature": ("tests/optim/test_sdlm.py",
                             "test_paper_curvature_trains_the_1998_network"),
    "distortions": ("tests/data/test_distortions.py", "test_training_with_distortions_runs"),
    "lenet1": ("tests/models/test_early_lenets.py", "test_real_training_function_learns_each"),
    "lenet4": ("tests/models/test_early_lenets.py", "test_real_training_function_learns_each"),
}


def floor(path, function) -> float:
  """The accuracy floor the test asserts (`accuracy...] > x`), read from its source."""
  with open(os.path.join(ROOT, path)) as f:
    body = f.read().split(f"def {function}(", 1)[1].split("\ndef ", 1)[0]
  (value,) = re.findall(r"accuracy\"\]\s*>\s*([0-9.]+)", body)
  return float(value)


def main():
  with open(os.path.join(HERE, "results.jsonl")) as f:
    rows = [json.loads(line) for line in f]
  print("| test | floor | run | test accuracy | caught |")
  print("|---|---|---|---|---|")
  for name, (path, function) in TESTS.items():
    least = floor(path, function)
    for row in (r for r in rows if r["test"] == name):
      correct = row["variant"] == "correct"
      caught = "" if correct else ("yes" if row["test_accuracy"] < least else "**no**")
      print(f"| `{function}` ({name}) | {least} | {row['variant']} | "
            f"{row['test_accuracy']:.4f} | {caught} |")


if __name__ == "__main__":
  main()

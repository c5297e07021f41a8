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
    "lenet5_two_epochs": ("tests/training/test_train.py",
                          "test_one_epoch_on_embedded_digits_learns"),
    "lenet5_1998_runlocal": ("tests/training/test_train.py", "test_1998_network_trains"),
    # scored on the official 10,000 where they lie beside the checkout, else on the
    # embedded 1,000 written as IDX files (tests/conftest.py's MNIST_TEST_DIR)
    "cli_official": ("tests/common/test_cli.py",
                     "test_train_then_evaluate_on_official_test_split"),
    "cli_embedded_idx": ("tests/common/test_cli.py",
                         "test_train_then_evaluate_on_official_test_split"),
}


def floor(path, function) -> float:
  """The accuracy floor the test asserts (`accuracy...] > x` or `accuracy > x`), read
  from its source."""
  with open(os.path.join(ROOT, path)) as f:
    body = f.read().split(f"def {function}(", 1)[1].split("\ndef ", 1)[0]
  (value,) = re.findall(r"accuracy(?:\"\])?\s*>\s*([0-9.]+)", body)
  return float(value)


def verdict(row, least) -> str:
  """'yes'/'**no**': whether the floor catches a broken run; a correct run (any seed) is
  marked only where it falls below its floor."""
  accuracy = row["test_accuracy"]
  if row["variant"].startswith("correct"):
    return "" if accuracy is not None and accuracy > least else "**below the floor**"
  if accuracy is None:
    return "yes (the run stops)"
  return "yes" if accuracy < least else "**no**"


def main():
  with open(os.path.join(HERE, "results.jsonl")) as f:
    rows = [json.loads(line) for line in f]
  print("| test | floor | run | test accuracy | caught |")
  print("|---|---|---|---|---|")
  for name, (path, function) in TESTS.items():
    least = floor(path, function)
    for row in (r for r in rows if r["test"] == name):
      accuracy = row["test_accuracy"]
      shown = f"{accuracy:.4f}" if accuracy is not None else row["error"]
      print(f"| `{function}` ({name}) | {least} | {row['variant']} | {shown} | "
            f"{verdict(row, least)} |")


if __name__ == "__main__":
  main()

"""The "Toward 98.5%" table of experiments/lenet_family/README.md, from results_seeds.csv:

  python experiments/lenet_family/table.py

Per step: the final official test error, mean ± sample std over the seeds, the
accuracy it makes, and the change of the mean against the step before it, with
Welch's t-test over the two steps' seeds (the committee: against its members' mean;
it is one number, so no test).
"""

import os
import statistics

from scipy import stats

import collect

# (the network in results_seeds.csv, how the table names the step)
STEPS = [
    ("LeNet-5", "LeNet-5, modern recipe"),
    ("LeNet-5, affine distortions", "+ online affine distortions (our ranges), 50 epochs"),
    ("LeNet-5, affine + elastic distortions",
     "+ elastic distortions (Simard et al. 2003), 50 epochs"),
    ("LeNet-5, affine + elastic, 150 epochs", "the same for 150 epochs"),
    ("the five 150-epoch nets above, outputs added",
     "the five 150-epoch nets, softmax outputs added (`lenet_jax.committee`)"),
]


def main():
  by_network = {}
  for row in collect.read_rows(os.path.join(collect.HERE, "results_seeds.csv")):
    by_network.setdefault(row["network"], []).append(row["test_error_pct"])
  print("| recipe | test error, 5 seeds | accuracy | what the step adds |\n|---|---|---|---|")
  previous = None
  for network, what in STEPS:
    errors = by_network.get(network)
    if not errors:
      raise SystemExit(f"error: results_seeds.csv has no row for {network!r}: "
                       "run collect.py on the runs of run.sh and moonshot.sh first")
    mean = statistics.mean(errors)
    if len(errors) > 1:
      error = f"{mean:.2f} ± {statistics.stdev(errors):.2f}%"
      accuracy = f"{100 - mean:.2f}%"
    else:
      error, accuracy = f"{mean:.2f}% (one committee)", f"**{100 - mean:.2f}%**"
    adds = ""
    if previous and len(errors) > 1:
      p = stats.ttest_ind(errors, previous, equal_var=False).pvalue
      adds = f"{mean - statistics.mean(previous):+.2f} points (p = {p:#.2g})"
    elif previous:
      adds = f"{mean - statistics.mean(previous):+.2f} points against its members' mean"
    print(f"| {what} | {error} | {accuracy} | {adds} |")
    previous = errors


if __name__ == "__main__":
  main()

"""The figures in the prose of experiments/lenet_family/README.md, recomputed from the
stored records: one phrase a line, which the README must hold word for word
(experiments/check_tables.py checks it).

  python experiments/lenet_family/claims.py

Errors are each run's last-epoch official test error (results_seeds.csv); tests are
Welch's t-test over the seeds; the boosting filters' counts come from each committee's
JSON file, member 1's training accuracy from its per-epoch records (metrics/).
"""

import json
import os
import statistics

from scipy import stats

import collect

HERE = os.path.dirname(os.path.abspath(__file__))
PAPER = {"LeNet-1": 1.7, "LeNet-4": 1.1, "LeNet-5": 0.95}
SEEDS = range(5)


def errors() -> dict:
  found = {}
  for row in collect.read_rows(os.path.join(HERE, "results_seeds.csv")):
    found.setdefault(row["network"], []).append(row)
  return found


def p_text(a, b) -> str:
  return f"p = {stats.ttest_ind(a, b, equal_var=False).pvalue:.2g}"


def mean_std(values) -> str:
  return f"{statistics.mean(values):.2f} ± {statistics.stdev(values):.2f}%"


def main():
  rows = errors()
  e = {k: [r["test_error_pct"] for r in v] for k, v in rows.items()}
  mean = {k: statistics.mean(v) for k, v in e.items()}
  say = print
  say(f"LeNet-1 against LeNet-4 {p_text(e['LeNet-1'], e['LeNet-4'])}, LeNet-4 against "
      f"LeNet-5 {p_text(e['LeNet-4'], e['LeNet-5'])}")
  ratios = [f"{mean[k] / v:.2f}x" for k, v in PAPER.items()]
  say(f"The three errors are {ratios[0]}, {ratios[1]} and {ratios[2]} the paper's")
  say(f"+{mean['LeNet-1, 1998 units'] - mean['LeNet-1']:.2f} points for LeNet-1, "
      f"+{mean['LeNet-4, 1998 units'] - mean['LeNet-4']:.2f} for LeNet-4")
  boosted = e["boosted LeNet-4: committee"]
  plain, distorted = e["3 LeNet-4s, outputs added (no filtering)"], e["LeNet-4, affine distortions"]
  three_distorted = e["3 LeNet-4s with distortions, outputs added"]
  both = e["boosted LeNet-4, members trained with distortions: committee"]
  say(f"the committee ({mean_std(boosted)}) is {mean['LeNet-4'] - statistics.mean(boosted):.2f} "
      f"points better than LeNet-4 alone and {statistics.mean(plain) - statistics.mean(boosted):.2f}"
      f" better than three independently trained LeNet-4s added ({mean_std(plain)}, "
      f"{p_text(boosted, plain)})")
  say(f"no better than one LeNet-4 trained with the same distortions ({mean_std(distorted)}, "
      f"{p_text(boosted, distorted)})")
  say(f"worse than three such LeNet-4s added ({mean_std(three_distorted)}, "
      f"{p_text(boosted, three_distorted)})")
  say(f"the committee reaches {mean_std(both)}: better than boosting with an undistorted "
      f"first member ({p_text(both, boosted)})")
  say(f"not distinguishable from three distortion-trained LeNet-4s added "
      f"({mean_std(three_distorted)}, {p_text(both, three_distorted)})")
  members = [statistics.mean(e[f"boosted LeNet-4, members trained with distortions: member {m}"])
             for m in (1, 2, 3)]
  say(f"Members 2 and 3 alone are worse than member 1 ({members[1]:.2f} and {members[2]:.2f}% "
      f"against {members[0]:.2f}%)")
  accuracy = [collect_metrics(f"lenet4_boosted_{s}.member_1.jsonl")[-1]["train_accuracy"]
              for s in SEEDS]
  perfect = [s for s, a in zip(SEEDS, accuracy) if a == 1.0]
  rest = [(s, a) for s, a in zip(SEEDS, accuracy) if a != 1.0]
  say(f"last-epoch training accuracy of 1.0 for seeds {perfect[0]}-{perfect[-1]} and "
      + " and ".join(f"{a:g}" for _, a in rest) + " for seeds "
      + " and ".join(str(s) for s, _ in rest))
  filters = [json.load(open(os.path.join(HERE, "metrics", f"lenet4_boosted_{s}.committee.json")))
             ["filters"] for s in SEEDS]
  two = [f[0] for f in filters]
  three = [f[1]["candidates"] for f in filters]
  say(f"member 2's {two[0]['wrong']:,} wrong and {two[0]['right']:,} right patterns came from "
      f"{min(f['candidates'] for f in two):,}-{max(f['candidates'] for f in two):,} candidates; "
      f"member 3's {filters[0][1]['size']:,} disagreements from {min(three):,}-{max(three):,}")
  long = e["LeNet-5, affine + elastic, 150 epochs"]
  say(f"every single 150-epoch run ({100 - max(long):.2f}-{100 - min(long):.2f}%)")
  minutes = [float(r["seconds"]) / 60 for r in rows["LeNet-5, affine + elastic, 150 epochs"]]
  say(f"One 150-epoch run took {int(min(minutes))}-{int(max(minutes)) + 1} minutes")
  say(f"({round(e['LeNet-1'][0] * 100)} and {round(e['LeNet-4'][0] * 100)} of 10,000)")


def collect_metrics(name):
  with open(os.path.join(HERE, "metrics", name)) as f:
    return [json.loads(line) for line in f if line.strip()]


if __name__ == "__main__":
  main()

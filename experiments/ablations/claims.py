"""The figures in the prose of experiments/ablations/README.md, recomputed from the stored
sweeps: one phrase a line, which the README must hold word for word, or, after
`optional: `, may hold (every test of significance.md, named by dataset and run); every
p-value, Holm-adjusted p and detectable difference in the README's prose must sit in one
of them (experiments/check_tables.py checks both).

  python experiments/ablations/claims.py

The tests are significance.py's (Welch's t-test, Holm's adjustment within each table of
significance.md, the detectable difference); the CPU reruns from every seed's final test
error (`*_cpu/results_seeds.csv`), the H100 runs from their means and standard deviations.
"""

import csv
import os

import numpy as np

import significance as sig

HERE = os.path.dirname(os.path.abspath(__file__))
DATASETS = ("mnist", "fashion")


def p_text(p: float, word: str = "p") -> str:
  return f"{word} < 0.001" if p < 0.0005 else f"{word} = {p:.3f}" if word == "p" else \
      f"{word} {p:.3f}"


def test_text(difference, p, adjusted) -> str:
  return f"{difference:+.2f} points, {p_text(p)}, {p_text(adjusted, 'Holm')}"


TITLES = {"mnist": "MNIST", "fashion": "Fashion-MNIST"}


def cell_name(key) -> str:
  return "/".join(key[1:])


def seeds(dataset, sweep):
  """{knob values: [(final test error, final train error)] per seed} of a CPU rerun."""
  found = {}
  with open(os.path.join(HERE, f"{dataset}_{sweep}_cpu", "results_seeds.csv")) as f:
    for row in csv.DictReader(f):
      key = tuple(v for k, v in row.items() if k.startswith("model."))
      found.setdefault(key, []).append((float(row["final_test_error_pct"]),
                                        float(row["final_train_error_pct"])))
  return found


def best_epochs(dataset, sweep, activation):
  with open(os.path.join(HERE, f"{dataset}_{sweep}_cpu", "results.csv")) as f:
    return [int(r["best_epoch"]) for r in csv.DictReader(f)
            if r["model.activation"] == activation]


def main():
  phrases = []
  say = phrases.append
  cpu = {d: sig.read_rerun(d) for d in DATASETS}
  h100 = {d: sig.read(d) for d in DATASETS}

  # How many comparisons significance.md lists.
  per_dataset = {}
  for d in DATASETS:
    count = sum(len(sig.against_best(cpu[d], s)[1]) for s in sig.SWEEP_KINDS)
    per_dataset[d] = (count, len(sig.pair_tests(cpu[d])), len(sig.rerun_tests(cpu[d], h100[d])))
  (best_count, pair_count, rerun_count), = set(per_dataset.values())
  say(f"{best_count} cells against their sweep's best and {pair_count} pairs: "
      f"{best_count + pair_count} comparisons per dataset, "
      f"{2 * (best_count + pair_count)} per run")
  say(f"the reruns add {rerun_count} comparisons per dataset with the H100 run")

  # The reruns against the H100 runs, cell by cell.
  for d, title in zip(DATASETS, ("MNIST", "Fashion-MNIST")):
    tests = sig.rerun_tests(cpu[d], h100[d])
    grid = [t for t in tests if t[0][0] == "ablations"]
    p_grid, p_all = min(t[3] for t in grid), min(t[3] for t in tests)
    say(f"optional: {title}: p >= {np.floor(p_grid * 100) / 100:.2f} in all {len(grid)} "
        "activation x pooling cells")
    say(f"optional: {title}: p >= {np.floor(p_all * 100) / 100:.2f} in all {len(tests)} cells")
    wide = [t for t in grid if t[2] > 1.0]
    narrow = [t[2] for t in grid if t[2] <= 1.0]
    text = f"{title}'s activation x pooling cells could detect {min(narrow):.2f}-{max(narrow):.2f} points"
    if wide:
      text += " (" + ", ".join(f"{t[2]:.2f} for {cell_name(t[0])}" for t in wide) + ")"
    say(text)
  rbf = [t[2] for t in sig.rerun_tests(cpu["mnist"], h100["mnist"]) if t[0][2:] == ("rbf",)]
  say(f"MNIST's RBF cells could detect only {min(rbf):.0f}-{max(rbf):.0f} points")
  mnist_grid = [k for k in cpu["mnist"] if k[0] == "ablations"]
  moves = {k: abs(cpu["mnist"][k][0] - h100["mnist"][k][0]) for k in mnist_grid}
  far = max(moves, key=moves.get)
  say(f"every cell's mean is within {moves[far]:.3f} points of the H100 sweep's "
      f"({cell_name(far)} the farthest)")
  spreads = {k: abs(cpu["mnist"][k][1] - h100["mnist"][k][1]) for k in mnist_grid}
  wide = max(spreads, key=spreads.get)
  rest = max(v for k, v in spreads.items() if k != wide)
  say(f"its standard deviation within {np.ceil(spreads[wide] * 100) / 100:.2f} points "
      f"({cell_name(wide)}: {cpu['mnist'][wide][1]:.3f} on the CPU against "
      f"{h100['mnist'][wide][1]:.3f} on the H100; the others within "
      f"{np.ceil(rest * 100) / 100:.2f})")
  fashion_grid = {k: cpu["fashion"][k][0] - h100["fashion"][k][0] for k in cpu["fashion"]
                  if k[0] == "ablations"}
  for k in sorted(fashion_grid, key=lambda k: -abs(fashion_grid[k]))[:2]:
    spread = abs(fashion_grid[k]) / np.mean([cpu["fashion"][k][1], h100["fashion"][k][1]])
    say(f"{cell_name(k)} ({h100['fashion'][k][0]:.2f} -> {cpu['fashion'][k][0]:.2f}, "
        f"{spread:.1f} of a standard deviation)")

  # The RBF cells' seeds on the CPU.
  for d in DATASETS:
    found = seeds(d, "c3_output")
    rbf = [e for k, v in found.items() if k[1] == "rbf" for e, _ in v]
    if d == "fashion":
      say(f"Every seed of the RBF cells trains here (final test errors "
          f"{min(rbf):.2f}-{max(rbf):.2f}%)")
      continue
    for c3 in ("full", "table"):
      values = found[(c3, "rbf")]
      stalled = [(e, t) for e, t in values if e > 10]
      trained = [e for e, _ in values if e <= 10]
      errors = [e for e, _ in values]
      stall = (f"{min(e for e, _ in stalled):.1f}-{max(e for e, _ in stalled):.1f}%"
               if len(stalled) > 1 else f"{stalled[0][0]:.2f}%")
      train = (f"{min(t for _, t in stalled):.1f}-{max(t for _, t in stalled):.1f}%"
               if len(stalled) > 1 else f"{stalled[0][1]:.1f}%")
      say(f"{len(stalled)} of {len(values)} {c3}-C3 seeds end at {stall} (train error "
          f"{train}), the others at {min(trained):.1f}-{max(trained):.1f}%, giving "
          f"{np.mean(errors):.2f} ± {np.std(errors, ddof=1):.2f}%")
    for key in (("c3_output", "full", "rbf"), ("c3_output", "table", "rbf")):
      say(f"H100 {cell_name(key)}: {h100['mnist'][key][0]:.2f} ± {h100['mnist'][key][1]:.2f}")

  # Every cell against its sweep's best, and the pairs.
  for d in DATASETS:
    for run, cells in (("", cpu[d]), ("H100 ", h100[d])):
      tests = [(f"{cell_name(k)} against {cell_name(best)}", diff, det, p, a)
               for sweep in sig.SWEEP_KINDS
               for best, rows in [sig.against_best(cells, sweep)]
               for k, diff, det, p, a in rows]
      tests += [(f"{cell_name(x)} vs {cell_name(y)}", diff, det, p, a)
                for x, y, diff, det, p, a in sig.pair_tests(cells)]
      for name, difference, smallest, p, adjusted in tests:
        phrase = f"{run}{TITLES[d]} {name}: " + test_text(difference, p, adjusted)
        say(f"optional: {phrase}")
        say(f"optional: {phrase}, detectable {smallest:.2f}")
  say("sigmoid: best epoch " + "-".join(
      str(f(best_epochs("mnist", "ablations", "sigmoid"))) for f in (min, max)))
  for line in phrases:
    print(line)


if __name__ == "__main__":
  main()

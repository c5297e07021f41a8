"""The tables of experiments/lenet5_1998/README.md, and the figures its prose quotes, from
the records stored beside it:

  python experiments/lenet5_1998/table.py [RECORD_DIR]   # the runs of run.sh
  python experiments/lenet5_1998/table.py --sdlm         # the mu sweep of sdlm_runs.sh
  python experiments/lenet5_1998/table.py --claims       # phrases the README must hold

The runs of run.sh (RECORD_DIR, committed as cpu_2026-12-06/): the held-out embedded
digits' best / last accuracy (<run>.metrics.jsonl), the official test split's error
(official_scores.jsonl, evaluate's JSON line for the last checkpoint), the training time
(the epochs' seconds summed: compilation, per-epoch evaluation and checkpoints included)
and the paper's figure for the same setting (section III.C, 60,000 training digits).
The mu sweep (sdlm_study/): each run's official test error as sdlm_runs.sh printed it
(scores.txt), its first pass's train loss and its training time (metrics.jsonl).
The claims also read the curvature at initialisation (sdlm_curvature.md).
"""

import json
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def read_jsonl(path: str) -> list[dict]:
  """The JSON objects of a stored JSON-lines file, or [] when it does not exist."""
  if not os.path.exists(path):
    return []
  with open(path) as f:
    return [json.loads(line) for line in f if line.strip()]
PAPER = {"sdlm_mu1": "0.95%", "sdlm_mu1_distorted": "0.8%"}  # section III.C
ETA = 0.0005  # the first pass's learning rate in sdlm_curvature.md
RUNS = [  # (run, what it is, the command's arguments after `python -m lenet_jax.main`)
    ("sdlm_mu1", "1998 network, SDLM mu 1, no distortions", "--config=configs/lenet5_1998.py"),
    ("sdlm_mu1_distorted", "1998 network, SDLM mu 1, distortions",
     "--config=configs/lenet5_1998.py:distorted"),
    ("sdlm_mu0.1", "1998 network, SDLM mu 0.1", "--config=configs/lenet5_1998.py:mu=0.1"),
    ("sdlm_mu0.02_paper", "1998 network, SDLM mu 0.02 (the paper's)",
     "--config=configs/lenet5_1998.py:mu=0.02"),
    ("modern", "modern (`configs/lenet5.py`), no distortions", "--config=configs/lenet5.py"),
    ("modern_distorted", "modern, distortions",
     "--config=configs/lenet5.py --config.distortions.enabled=True"),
]


def read(path):
  """The records of a JSON-lines file run.sh wrote; one error line if it is not there."""
  records = read_jsonl(path)
  if not records:
    raise SystemExit(f"error: {path} is missing or empty: run run.sh with RECORD_DIR first")
  return records


def runs(record=os.path.join(HERE, "cpu_2026-12-06")):
  """{run: (official test error %, its epochs)}"""
  official = {os.path.basename(r["workdir"]): r
              for r in read(os.path.join(record, "official_scores.jsonl"))}
  return {name: (100 * (1 - official[name]["test_accuracy"]),
                 read(os.path.join(record, f"{name}.metrics.jsonl"))) for name, _, _ in RUNS}


def main():
  record = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "cpu_2026-12-06")
  official = {os.path.basename(r["workdir"]): r
              for r in read(os.path.join(record, "official_scores.jsonl"))}
  print("| run | command | held-out embedded accuracy, best / last | official test error "
        "| the paper (60,000 digits) | training time |\n|---|---|---|---|---|---|")
  for name, what, args in RUNS:
    epochs = read(os.path.join(record, f"{name}.metrics.jsonl"))
    best = max(r["test_accuracy"] for r in epochs)
    last = epochs[-1]["test_accuracy"]
    held_out = f"{100 * best:.2f}% / {100 * last:.2f}%"
    if last <= 0.11:
      held_out = f"diverged ({100 * last:.0f}%)"
    error = 100 * (1 - official[name]["test_accuracy"])
    print(f"| {what} | `{args}` | {held_out} | {error:.2f}% | {PAPER.get(name, '')} | "
          f"{sum(r['seconds'] for r in epochs):.0f} s |")


def study():
  """{(curvature, mu) or 'sgd': (official test error %, first pass's train loss, seconds)}
  of the mu sweep."""
  scores = {}
  for line in read_lines(os.path.join(HERE, "sdlm_study", "scores.txt")):
    m = re.match(r"(exact|paper) mu=([0-9.]+): .*\(error ([0-9.]+)%", line) or re.match(
        r"(sgd) .*\(error ([0-9.]+)%", line)
    if m and m.group(1) == "sgd":
      scores["sgd"] = float(m.group(2))
    elif m:
      scores[m.group(1), m.group(2)] = float(m.group(3))
  found = {}
  for key, error in scores.items():
    name = "sgd" if key == "sgd" else f"{key[0]}_mu{key[1]}"
    epochs = read(os.path.join(HERE, "sdlm_study", f"{name}.metrics.jsonl"))
    found[key] = (error, epochs[0]["train_loss"], sum(r["seconds"] for r in epochs))
  return found


def read_lines(path):
  if not os.path.exists(path):
    raise SystemExit(f"error: {path} is missing: run sdlm_runs.sh first")
  with open(path) as f:
    return f.read().splitlines()


def sdlm_table():
  found = study()
  mus = ("0.02", "0.1", "1")
  print("| curvature | mu = 0.02 (the paper's) | mu = 0.1 | mu = 1 | training time (20 passes) "
        "|\n|---|---|---|---|---|")
  for curvature, what in (("exact", "exact Gauss-Newton diagonal"),
                          ("paper", "the paper's estimate")):
    cells = []
    for mu in mus:
      error, loss, _ = found[curvature, mu]
      cell = f"{error:.2f}%"
      if error > 50:
        cell = f"diverged: {cell} error (train loss {loss:.0f} in pass 1)"
      cells.append(cell)
    seconds = [found[curvature, mu][2] for mu in mus]
    print(f"| {what} | {' | '.join(cells)} | {min(seconds):.0f}-{max(seconds):.0f} s |")
  error, _, seconds = found["sgd"]
  print(f"| plain SGD, the same per-sample rates, no curvature | | | | {error:.2f}%, "
        f"{seconds:.0f} s |")


def curvature():
  """{estimate: {layer: (params, median h, median ratio, {mu: (min, median, max step)})}}
  from sdlm_curvature.md."""
  lines = read_lines(os.path.join(HERE, "sdlm_curvature.md"))
  medians, steps, estimate = {}, {"exact": {}, "paper": {}}, None
  for line in lines:
    if line.startswith("Step sizes"):
      estimate = "exact" if "exact estimate" in line else "paper"
    cells = [c.strip() for c in line.strip("|").split("|")] if line.startswith("| ") else []
    if len(cells) == 5 and estimate is None and cells[0] != "layer":
      medians[cells[0]] = (int(cells[1].replace(",", "")), float(cells[2]), float(cells[3]),
                           float(cells[4]))
    elif len(cells) == 4 and estimate and cells[0] != "layer":
      steps[estimate][cells[0]] = [tuple(float(x) for x in c.split(" (")[0].split(" / "))
                                   for c in cells[1:]]
  return medians, steps


def layer_name(layer: str) -> str:
  """For example s2.coefficient -> S2's coefficients."""
  parts = layer.split(".")
  return f"{parts[0].upper()}'s {parts[-1].replace('bias', 'biase')}s"


def claims():
  found = runs()
  error = {k: v[0] for k, v in found.items()}
  train = {k: 100 * (1 - v[1][-1]["train_accuracy"]) for k, v in found.items()}
  sweep = study()
  medians, steps = curvature()
  print(f"from {error['sdlm_mu1']:.2f}% to {error['sdlm_mu1_distorted']:.2f}%")
  print(f"from {error['modern']:.2f}% to {error['modern_distorted']:.2f}%")
  print(f"train error {train['sdlm_mu1']:.1f}%, against {train['modern']:.0f}% for the "
        "modern one")
  sgd = sweep["sgd"][0]
  print(f"SGD at the same per-sample rates scored {sgd:.2f}% against SDLM's "
        f"{sweep['exact', '1'][0]:.2f}% (exact) and {sweep['paper', '1'][0]:.2f}% (paper)")
  print(f"{sweep['exact', '0.1'][0]:.2f}% in sdlm_study/ and {error['sdlm_mu0.1']:.2f}% in the "
        f"2026-12-06 rerun, against SGD's {sgd:.2f}%")
  if f"{sweep['exact', '1'][0]:.2f}" != f"{error['sdlm_mu1']:.2f}":
    raise SystemExit("error: the exact mu = 1 runs no longer agree; reword the README")
  # The steps at mu = 1, exact estimate: a layer whose smallest step is within 10% of eta
  # has every parameter there; one whose largest is below 90% has none.
  at_one = {layer: s[2] for layer, s in steps["exact"].items()}
  within = sum(medians[layer][0] for layer, (lo, _, _) in at_one.items() if lo >= 0.9 * ETA)
  below = {layer: hi for layer, (_, _, hi) in at_one.items() if hi < 0.9 * ETA}
  if within + sum(medians[layer][0] for layer in below) != sum(v[0] for v in medians.values()):
    raise SystemExit("error: a layer is split by the 10% line; count its parameters by hand")
  (slow, hi), = below.items()
  print(f"{within:,} of the {sum(v[0] for v in medians.values()):,} parameters step within "
        f"10% of eta; {slow.split('.')[0].upper()}'s {medians[slow][0]} biases step at "
        f"{hi / ETA:.0%} of it")
  coarse = [v[3] for k, v in medians.items() if k.split(".")[0] in ("c1", "s2", "c3")
            or k == "s4.coefficient"]
  print(f"(median ratio {min(coarse):.2f}-{max(coarse):.2f}), about equal for S4's biases "
        f"({medians['s4.bias'][3]:.2f})")
  rest = {k: v[1] for k, v in medians.items() if k not in ("c5.conv.bias", "f6.linear.bias")}
  low, high = min(rest, key=rest.get), max(rest, key=rest.get)
  print(f"runs from {rest[low]:.3g} ({layer_name(low)}) to {rest[high]:.3g} "
        f"({layer_name(high)})".replace("e-0", "e-"))
  print(f"C5's biases (median {medians['c5.conv.bias'][1]:.2g}) and F6's biases "
        f"({medians['f6.linear.bias'][1]:.2g})")
  shares = {}
  for line in read_lines(os.path.join(HERE, "sdlm_curvature.md")):
    m = re.match(r"All .* mu = 0.02: steps from ([0-9.e-]+) to ([0-9.]+); (\d+)% within", line)
    if m:
      shares[len(shares)] = m.groups()
  print(f"within 10% of eta/mu = {ETA / 0.02:.3f} for {shares[0][2]}% (exact) and "
        f"{shares[1][2]}% (paper)")
  print(f"The steps range from {float(shares[0][0]):.1e} to {float(shares[0][1]):.3f} with "
        "both".replace("e-0", "e-"))


if __name__ == "__main__":
  if sys.argv[1:] == ["--sdlm"]:
    sdlm_table()
  elif sys.argv[1:] == ["--claims"]:
    claims()
  else:
    main()

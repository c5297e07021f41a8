"""The Results table of the project's README.md, from the files stored under experiments/:

  python experiments/results.py          # README.md's table, every row
  python experiments/results.py TOPIC    # the rows of one guide in docs/ (lenet, alexnet,
                                         # speed, runs), its links relative to docs/

One row per result: what was measured, the machine, and the figure with a link to the
experiment's page, which has the command, the versions and the stored file. Every figure
is computed here from the stored file named in the row's source below (the same readers
the experiments' own tables use), so experiments/check_tables.py fails when a figure of
the README's table and its file disagree.
"""

import csv
import importlib.util
import json
import os
import statistics
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import records  # noqa: E402

EPYC, XEON = "2-core AMD EPYC VM (CPU)", "2-core Intel Xeon VM (CPU)"
PREFIX = ""  # where experiments/ is from the file the table goes into


def load(name, *path):
  spec = importlib.util.spec_from_file_location(name, os.path.join(HERE, *path))
  module = importlib.util.module_from_spec(spec)
  sys.path.insert(0, os.path.dirname(spec.origin))
  spec.loader.exec_module(module)
  return module


def link(experiment: str) -> str:
  return f"[{experiment}]({PREFIX}experiments/{experiment}/README.md)"


def ms(values) -> str:
  return f"{statistics.mean(values):.2f} ± {statistics.stdev(values):.2f}"


def family():
  """{network: [last-epoch official test error % of each seed]} of lenet_family."""
  found = {}
  with open(os.path.join(HERE, "lenet_family", "results_seeds.csv")) as f:
    for row in csv.DictReader(f):
      found.setdefault(row["network"], []).append(float(row["test_error_pct"]))
  return found


def lenet_rows():
  from scipy import stats  # here: the other guides' rows need no statistics
  net = family()
  yield ("LeNet-5 (modern recipe), trained on the 4,000 embedded MNIST digits, official "
         "test error, 5 seeds", EPYC,
         f"{ms(net['LeNet-5'])}% (the paper, 60,000 digits: 0.95%) {link('lenet_family')}")
  yield ("LeNet-1 / LeNet-4 / boosted LeNet-4, the same data and recipe, 5 seeds", EPYC,
         " / ".join(ms(net[k]) for k in ("LeNet-1", "LeNet-4", "boosted LeNet-4: committee"))
         + f"% (the paper: 1.7 / 1.1 / 0.7%) {link('lenet_family')}")
  elastic = net["LeNet-5, affine + elastic, 150 epochs"]
  committee = net["the five 150-epoch nets above, outputs added"][0]
  yield ("LeNet-5 with affine + elastic distortions, 150 epochs, 5 seeds; the five nets' "
         "outputs added (steps chosen after seeing the test split: optimistic)", EPYC,
         f"{ms(elastic)}% (accuracy {100 - statistics.mean(elastic):.2f}%); committee "
         f"{committee:.2f}% ({100 - committee:.2f}%) {link('lenet_family')}")

  l98 = load("lenet5_1998_table", "lenet5_1998", "table.py").runs()
  yield ("The 1998 network trained the 1998 way (SDLM, batch 1, 20 passes), without / with "
         "distortions, one seed", XEON,
         f"{l98['sdlm_mu1'][0]:.2f}% / {l98['sdlm_mu1_distorted'][0]:.2f}% (the paper: 0.95 / "
         f"0.8%) {link('lenet5_1998')}")
  yield ("The modern LeNet-5 (`configs/lenet5.py`) on the same data and machine, without / "
         "with distortions, one seed", XEON,
         f"{l98['modern'][0]:.2f}% / {l98['modern_distorted'][0]:.2f}% {link('lenet5_1998')}")
  dist = load("distortions_table", "distortions", "table.py")
  (online, _), (fixed, _) = (dist.runs(name) for name, _ in dist.PROTOCOLS)
  p = stats.ttest_ind(online, fixed, equal_var=False).pvalue
  yield ("Affine distortions drawn every step against the paper's fixed 9 copies, LeNet-5, "
         "3 seeds", EPYC,
         f"{ms(online)}% vs {ms(fixed)}% (no difference detected, p = {p:.2f}) "
         f"{link('distortions')}")

  sig = load("ablation_significance", "ablations", "significance.py")
  cpu = {d: sig.read_rerun(d) for d in ("mnist", "fashion")}
  best = {d: sig.against_best(cpu[d], "ablations")[0] for d in cpu}
  yield ("Activation x pooling sweep of LeNet-5, 5 seeds, best cells: MNIST (4,000 digits) "
         "/ Fashion-MNIST", EPYC,
         " / ".join(f"{'/'.join(best[d][1:])} {cpu[d][best[d]][0]:.2f} ± "
                    f"{cpu[d][best[d]][1]:.2f}%" for d in cpu) + f" {link('ablations')}")
  table, full = (cpu["mnist"][("c3_output", c3, "dense")] for c3 in ("table", "full"))
  p = sig.welch(table, full)
  yield ("C3's connection table against a full C3, MNIST, 5 seeds", EPYC,
         f"{table[0]:.2f} vs {full[0]:.2f}% (no difference detected, p = {p:.2f}; detectable "
         f"{sig.detectable(table, full):.2f} points) {link('ablations')}")
  h100 = {d: sig.read(d) for d in cpu}
  lowest = {d: min(t[3] for t in sig.rerun_tests(cpu[d], h100[d])) for d in cpu}
  yield ("The same sweeps on an H100 against the CPU reruns, cell by cell (19 cells a "
         "dataset)", "H100 / " + EPYC.split(" (")[0],
         f"no cell differs: p >= {int(lowest['mnist'] * 100) / 100:.2f} (MNIST), "
         f">= {int(lowest['fashion'] * 100) / 100:.2f} (Fashion-MNIST) {link('ablations')}")



def _differences(found: dict) -> str:
  """What a sweep_table.py comparison found, after Holm's adjustment."""
  significant = [c for c, f in found.items() if f["holm"] < 0.05]
  return ("no difference detected" if not significant else
          "Holm's p < 0.05: " + ", ".join(significant))


def alexnet_rows():
  alex = load("alexnet_ablations_table", "alexnet", "ablations", "table.py").summary()
  cells = ("base", "activation=tanh", "towers=1,width=0.5", "lrn=none",
           "pooling=nonoverlapping", "dropout=0")
  shown = []
  for cell in cells:
    errors = alex[cell]["test"]
    dead = sum(e > 50 for e in errors)
    shown.append(f"{dead} of {len(errors)} seeds at chance" if dead
                 else f"{statistics.mean(errors):.2f}")
  yield ("AlexNet's ablations, Fashion-MNIST at 227x227, 3 seeds, 5 epochs, test error: "
         "paper's config / tanh / one tower, half width / no LRN / non-overlapping pools / "
         "no dropout (dropout then inverted, momentum optax's)", "one H200",
         " / ".join(shown) + "% (none significant after Holm's adjustment) "
         + link("alexnet/ablations"))
  table = load("alexnet_sweep_table", "alexnet", "sweep_table.py")
  folder = os.path.join(HERE, "alexnet", "norm_ablation")
  seeds, _ = table.read(folder)
  found = table.compare(seeds, "norm=lrn", [])
  mean = {c: statistics.mean(v["test"]) for c, v in seeds.items()}
  yield ("AlexNet's normalisation, reduced network (width 0.5, 67x67, 10,000 Fashion-MNIST "
         "images, 7 epochs, 3 seeds), test error: LRN / BatchNorm / none", EPYC,
         f"{mean['norm=lrn']:.2f} / {mean['norm=batchnorm']:.2f} / {mean['norm=none']:.2f}% "
         f"({_differences(found)}; detectable {min(f['detectable'] for f in found.values()):.2f}"
         f" points) {link('alexnet/norm_ablation')}")
  folder = os.path.join(HERE, "alexnet", "deviations", "sweep")
  seeds, _ = table.read(folder)
  code_std = "init_std=0.01-0.01-0.03-0.03-0.03-0.01-0.01-0.01"
  found = table.compare(seeds, "init=he", [(code_std, "base")])
  mean = {c: statistics.mean(v["test"]) for c, v in seeds.items()}
  code = next(c for c in seeds if c.startswith("init=he,lrn=cuda_convnet,conv1_norm"))
  yield ("AlexNet, paper's text vs its 2012 code, reduced (width 0.25, 67x67, 5k Fashion-MNIST, "
         "7 epochs, 3 seeds), test error: text / all code choices / inverted dropout", EPYC,
         f"{mean['init=he']:.2f} / {mean[code]:.2f} / "
         f"{mean['init=he,dropout_scaling=inverted']:.2f}% ({_differences(found)}, of {len(found)} "
         f"against the text) {link('alexnet/deviations/sweep')}")
  he = records.read_jsonl("alexnet", "fashion_he.metrics.jsonl")
  yield ("AlexNet on Fashion-MNIST at 227x227, 10 epochs, He init (dropout then on fc6's and "
         "fc7's inputs and inverted, momentum optax's)", "one H100", f"{he[-1]['test_accuracy']:.2%} {link('alexnet')}")

  comm = load("communication", "alexnet", "communication.py")
  exchanges, params, _ = comm.exchanges()
  split = sum(comm.split_bytes(v, 128, 4) for _, _, v in exchanges)
  yield ("Bytes per step between two devices at batch 128, fp32: the tower split against data "
         "parallelism", "arithmetic on the model's shapes",
         f"{split / 1e6:.1f} MB vs {comm.data_parallel_bytes(params, 4) / 1e6:.1f} MB "
         f"{link('alexnet')}")


def speed_rows():
  bench = load("benchmark_tables", "benchmarks", "tables.py")
  pairs = []
  for batch in (128, 256):
    name, options = "2", (bench.S2D, bench.LRN)
    jax_run = records.benchmark_line(bench.lenet_jax_run(bench.session(name),
                                                         "configs/alexnet.py", batch, options))
    torch = records.anchor_line(bench.torch_run(bench.session(name), "alexnet", batch))
    pairs.append(f"{records.thousands(jax_run['images_per_s'])} vs "
                 f"{records.thousands(torch['images_per_s'])} img/s "
                 f"({jax_run['images_per_s'] / torch['images_per_s']:.2f}x)")
  yield ("AlexNet training step (bf16, two towers) against PyTorch torch.compile, batch 128 "
         "/ 256, same session", "one H200", " / ".join(pairs) + f" {link('benchmarks')}")
  pairs = []
  found = bench.session("1")
  for batch in (128, 1024):
    jax_run = records.benchmark_line(bench.lenet_jax_run(found, "configs/lenet5.py", batch, ()))
    torch = records.anchor_line(bench.torch_run(found, "lenet", batch))
    pairs.append(f"{records.thousands(jax_run['images_per_s'])} vs "
                 f"{records.thousands(torch['images_per_s'])} img/s "
                 f"({jax_run['images_per_s'] / torch['images_per_s']:.1f}x)")
  yield ("LeNet-5 training step against PyTorch eager, batch 128 / 1024, same session",
         "one H200", " / ".join(pairs) + f" {link('benchmarks')}")
  t98 = load("time_to_98", "benchmarks", "time_to_98.py")
  times = []
  for machine, name in (("H200", "h200"), ("H100", "h100"), ("Xeon", "cpu_xeon"),
                        ("EPYC", "cpu")):
    epoch, _, _, seconds, _, _, _ = t98.row(
        records.read_jsonl("benchmarks", f"time_to_98_{name}.metrics.jsonl"))
    times.append((machine, seconds, epoch))
  epochs = {e for _, _, e in times}
  yield ("Time to 98% on the official MNIST test split, training on the embedded digits with "
         "distortions", "H200 / H100 / Xeon / EPYC",
         " / ".join(f"{s:.1f} s" for _, s, _ in times)
         + f" (epoch {epochs.pop() if len(epochs) == 1 else 'various'}) {link('benchmarks')}")
  epochs = records.read_jsonl("alexnet", "prepared_train_h200.metrics.jsonl")[1:]
  synthetic = records.benchmark_line(records.find(
      records.sections("alexnet", "gpu_session_feed_and_ablations_1.log"),
      "lenet_jax.benchmark", "--config.steps_per_scan=50"))
  speeds = [r["images_per_sec"] for r in epochs]
  yield ("AlexNet (bf16, batch 256) trained from a prepared set against resident synthetic "
         "images (before the faster reads)", "one H200",
         f"{records.thousands(min(speeds))}-{records.thousands(max(speeds))} vs "
         f"{records.thousands(synthetic['images_per_s'])} img/s (goal 90%: not met) "
         f"{link('alexnet')}")
  alex_tables = load("alexnet_tables", "alexnet", "tables.py")
  before, after = alex_tables.cpu_runs("before"), alex_tables.cpu_runs("after")
  device = lambda runs: [r["device"] for r in runs]  # noqa: E731
  jpeg = [r["jpeg"] for r in before + after]
  yield ("Prepared batches to the (CPU) device before / after reading with one copy into "
         "reused buffers; the JPEG stream in the same runs", "2-core CPU VM",
         f"{records.thousands(max(device(before)))} -> {records.thousands(min(device(after)))}"
         f"-{records.thousands(max(device(after)))} img/s; JPEG {min(jpeg):.0f}-{max(jpeg):.0f}"
         f" img/s {link('alexnet')}")
  suite = load("test_suite_summary", "test_suite", "summary.py")
  tests, seconds = suite.last_line(suite.CI_LOG)
  yield ("The test suite, `.ci/run` in a clean clone (install not counted)", EPYC,
         f"{tests} passed in {suite._minutes(seconds)} {link('test_suite')}")


def runs_rows():
  with open(os.path.join(HERE, "reliability", "kill_resume_20.log")) as f:
    points = [json.loads(line) for line in f if line.startswith("{")]
  equal = sum(p["params_bitwise_equal"] and p["metrics_equal"] for p in points)
  yield ("SIGKILL at random moments, then the same command again, until done", "2-core CPU VM",
         f"{equal} of {len(points)} runs bitwise equal to an uninterrupted run after "
         f"{sum(p['kills'] for p in points)} kills {link('reliability')}")


# The guides of docs/ and their rows, in the README's order.
TOPICS = {"lenet": lenet_rows, "alexnet": alexnet_rows, "speed": speed_rows, "runs": runs_rows}


def main():
  global PREFIX
  topic = sys.argv[1] if len(sys.argv) > 1 else None
  if topic is not None and topic not in TOPICS:
    raise SystemExit(f"error: the topic must be one of {', '.join(TOPICS)}, not {topic!r}")
  PREFIX = "../" if topic else ""
  print("| result | machine | figure |\n|---|---|---|")
  for rows in [TOPICS[topic]] if topic else TOPICS.values():
    for what, machine, figure in rows():
      print(f"| {what} | {machine} | {figure} |")


if __name__ == "__main__":
  main()

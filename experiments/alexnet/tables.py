"""The tables of experiments/alexnet/README.md, from the files stored beside it:

  python experiments/alexnet/tables.py fashion        # 10 epochs on Fashion-MNIST, two inits
  python experiments/alexnet/tables.py init           # init_diagnosis.jsonl
  python experiments/alexnet/tables.py feed           # a prepared set against the JPEG stream
  python experiments/alexnet/tables.py before_after   # reading with one copy into reused buffers

Every figure is the one its file holds: the runs' per-epoch metrics, init_diagnosis.py's
JSON lines, input_pipeline.py's lines in the session logs.
"""

import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import records  # noqa: E402

CPU_LOG = ("alexnet", "feed_before_after_cpu.log")
GPU_LOG = ("alexnet", "gpu_session_feed_and_ablations_1.log")
FASHION = [  # (init, command, metrics file)
    ("He (N(0, 2/fan_in), zero biases)",
     "`python -m lenet_jax.main --config=configs/alexnet.py --config.data.source=idx "
     "--config.data.dir=.devdata/fashion --config.model.init=he`", "fashion_he.metrics.jsonl"),
    ("the paper's (N(0, 0.01), biases 1 in conv2/4/5, fc6/7)",
     "same, without `--config.model.init=he`", "fashion_paper_init.metrics.jsonl"),
]
INITS = {  # (init, normalization) -> how the table names it
    ("paper", "mean_std"): ("paper: N(0, 0.01), biases 1 in conv2/4/5, fc6/7",
                            "normalised (`mean_std`, the default)"),
    ("paper", "subtract_mean"): ("paper", "0-255 less the mean (`subtract_mean`, the paper's "
                                 "section 2)"),
    ("caffe", "mean_std"): ("caffe: bvlc_alexnet's fillers (std 0.01, fc6/7 0.005; biases 0.1)",
                            "normalised"),
    ("caffe", "subtract_mean"): ("caffe", "0-255 less the mean"),
    ("he", "mean_std"): ("he: N(0, 2/fan_in), zero biases", "normalised"),
}


def fashion():
  print("| init | command | test accuracy after 10 epochs | epoch time, summed | "
        "per-epoch metrics |\n|---|---|---|---|---|")
  for init, command, name in FASHION:
    epochs = records.read_jsonl("alexnet", name)
    accuracy = epochs[-1]["test_accuracy"]
    later = [r["images_per_sec"] for r in epochs[1:]]
    result = (f"**{accuracy:.2%}** ({1 - accuracy:.2%} error)" if accuracy > 0.2
              else f"{accuracy:.2%} (chance)")
    span = sorted({f"{x / 1e3:.1f}k" for x in (min(later), max(later))})
    speed = (f" ({'-'.join(span)} img/s in each epoch after the first)" if accuracy > 0.2
             else "")
    print(f"| {init} | {command} | {result} | {sum(r['seconds'] for r in epochs):.1f} s{speed} "
          f"| `{name}` |")


def init():
  print("| init | input | input dependence conv1 / conv2 / conv5 / fc7 / fc8 | kernel gradient "
        "norm conv1 / fc8 | loss, steps 1-10 / 21-30 / 51-60 |\n|---|---|---|---|---|")
  for run in records.read_jsonl("alexnet", "init_diagnosis.jsonl"):
    init_name, data = INITS[run["init"], run["normalization"]]
    dependence = " / ".join(records.significant(run["stages"][s]["input_dependence"], 2)
                            for s in ("conv1", "conv2", "conv5", "fc7", "fc8"))
    grads = " / ".join(records.significant(run["kernel_grad_norms"][s], 2)
                       for s in ("conv1", "fc8"))
    losses = [records.significant(run["loss_by_10_steps"][i], 3) for i in (0, 2, 5)]
    if float(losses[-1]) < 2.0:  # left the plateau of ln 10 = 2.30
      losses[-1] = f"**{losses[-1]}**"
    print(f"| {init_name} | {data} | {dependence} | {grads} | {' / '.join(losses)} |")


def pipeline(lines: list[str]) -> dict:
  """input_pipeline.py's figures in one run's lines."""
  value = lambda pattern: records.line_value(lines, pattern)  # noqa: E731
  images, seconds, per_second, cores, per_core = value(
      r"prepare: (\d+) JPEGs .* in ([0-9.]+) s = ([\d,]+) images/s on (\d+) cores \((\d+) per")
  return {
      "prepare": (int(images), float(seconds), records.number(per_second), int(cores),
                  int(per_core)),
      "bytes": records.number(value(r"([\d,]+) bytes per image on disk")[0]),
      "host": records.number(value(r"host batches only .*, ([\d,]+) images/s")[0]),
      "device": records.number(value(r"to the device (?:in the loop )?\(uint8.*, ([\d,]+) "
                                     r"images/s")[0]),
      "ahead": (records.number(value(r"2 batches ahead .*, ([\d,]+) images/s")[0])
                if any("batches ahead" in line for line in lines) else None),
      "augmented": records.number(value(r"augmentation run there .*, ([\d,]+) images/s")[0]),
      "jpeg": records.number(value(r"JPEG train: .* = ([\d,]+) images/s")[0]),
      "threads": int(value(r"JPEG train: .* with (\d+) threads")[0]),
      "ratio": float(value(r"prepared / JPEG training feed: ([0-9.]+)x")[0]),
  }


def cpu_runs(version: str) -> list[dict]:
  """input_pipeline.py's figures for the `before` or `after` runs of the CPU log."""
  return [pipeline(s["lines"]) for s in records.sections(*CPU_LOG)
          if s["command"].startswith(version)]


def feed():
  cpu = cpu_runs("before")
  gpu = pipeline(records.find(records.sections(*GPU_LOG), "input_pipeline.py")["lines"])
  both = lambda key: " / ".join(f"{r[key]:,.0f}" for r in cpu)  # noqa: E731
  prep = [r["prepare"] for r in cpu]
  print("| | this project's 2-core VM, CPU device (jax 0.10.2), the code before the changes "
        "below (300475d), runs 1 / 2: `feed_before_after_cpu.log`, 2026-11-28 | the H200 "
        "machine's 16-core host (jax 0.11.2, numpy 2.5.2), one run: "
        "`gpu_session_feed_and_ablations_1.log`, 2026-11-27 |\n|---|---|---|")
  g = gpu["prepare"]
  print("| preparation (decode, shorter side to 256, central 256x256, write) | "
        + " / ".join(f"{p[2]:,.0f}" for p in prep) + f" images/s on {prep[0][3]} cores, "
        + " / ".join(str(p[4]) for p in prep) + " per core ("
        + f"{prep[0][0]:,} images in " + " / ".join(f"{p[1]:.1f}" for p in prep) + " s) | "
        + f"{g[2]:,.0f} images/s on {g[3]} cores, {g[4]} per core ({g[0]:,} in {g[1]:.1f} s) |")
  size, pixels = cpu[0]["bytes"], 256 * 256 * 3
  gpu_size = "same" if gpu["bytes"] == size else f"{gpu['bytes']:,.0f} bytes"
  print(f"| size on disk | **{size:,.0f} bytes an image** ({pixels:,} of pixels, "
        f"{size - pixels:.0f} of label) | {gpu_size} |")
  print(f"| prepared, host batches only | {both('host')} images/s | {gpu['host']:,.0f} images/s |")
  print(f"| prepared, batches put on the device (uint8) | {both('device')} images/s | "
        f"{gpu['device']:,.0f} images/s |")
  print("| the same with the device's augmentation run on it (crop, flip, PCA lighting, "
        f"normalise) | {both('augmented')} images/s (the CPU computes it) | "
        f"{gpu['augmented']:,.0f} images/s (on the GPU) |")
  print(f"| the JPEG stream, training batches ({cpu[0]['threads']} / {gpu['threads']} threads) "
        f"| {both('jpeg')} images/s | {gpu['jpeg']:,.0f} images/s |")
  print("| **prepared to the device / JPEG** (as the script prints it) | **"
        + " / ".join(f"{r['ratio']:.1f}x" for r in cpu) + f"** | {gpu['ratio']:.1f}x |")


def before_after():
  before, after = cpu_runs("before"), cpu_runs("after")
  version = lambda word: re.search(  # noqa: E731
      r"\((\w+)\)", next(s["command"] for s in records.sections(*CPU_LOG)
                         if s["command"].startswith(word))).group(1)
  row = lambda runs, key: " / ".join(f"{r[key]:,.0f}" for r in runs)  # noqa: E731
  print(f"| images/s | before ({version('before')}), runs 1 / 2 | after ({version('after')}), "
        "runs 1 / 2 |\n|---|---|---|")
  print(f"| prepared, host batches only | {row(before, 'host')} | **{row(after, 'host')}** |")
  print(f"| to the (CPU) device, placed in the loop | {row(before, 'device')} | "
        f"**{row(after, 'device')}** |")
  print("| to the device, placed 2 ahead in a thread (training's default) | (not in that "
        f"version) | {row(after, 'ahead')} |")
  print("| the same with the device's augmentation (the CPU computes it) | "
        f"{row(before, 'augmented')} | {row(after, 'augmented')} |")
  print(f"| the JPEG stream, training batches | {row(before, 'jpeg')} | {row(after, 'jpeg')} |")


TABLES = {"fashion": fashion, "init": init, "feed": feed, "before_after": before_after}


def main():
  if len(sys.argv) != 2 or sys.argv[1] not in TABLES:
    raise SystemExit(f"error: say which table: {', '.join(TABLES)}")
  TABLES[sys.argv[1]]()


if __name__ == "__main__":
  main()

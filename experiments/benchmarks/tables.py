"""The GPU tables of experiments/benchmarks/README.md, from the session logs stored here
and under experiments/alexnet:

  python experiments/benchmarks/tables.py alexnet 256   # AlexNet against torch.compile
  python experiments/benchmarks/tables.py alexnet 128
  python experiments/benchmarks/tables.py lenet5        # LeNet-5 against PyTorch eager
  python experiments/benchmarks/tables.py prepared      # AlexNet fed from a prepared set

Every figure is the one the log printed: lenet_jax.benchmark's readable line (images/s,
ms/step, MFU), PyTorch's anchor's JSON line, the training run's per-epoch metrics. A ratio
is images/s over PyTorch's images/s in the same session.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import records  # noqa: E402

SESSIONS = {"1": ("benchmarks", "gpu_2026-11-27", "session1.log"),
            "2": ("benchmarks", "gpu_2026-11-27", "session2.log")}
S2D, FIRST_MAX, LRN = ("conv1=space_to_depth", "pool_gradient=first_max", "lrn_dtype=compute")
OPTIONS = (S2D, FIRST_MAX, LRN, "--profile_dir", "command_buffer")
# (row, session, the options its command holds; the others it does not)
ALEXNET_ROWS = {
    256: [
        ("lenet_jax before this session (conv1 strided, LRN in fp32, select-and-scatter)", "1",
         ()),
        ("the same, profiled run", "1", ("--profile_dir",)),
        ("conv1 as a space-to-depth convolution (`model.conv1=space_to_depth`)", "1", (S2D,)),
        ("the same", "2", (S2D,)),
        ("max pools' gradient to the first maximum by slices and pads "
         "(`model.pool_gradient=first_max`)", "1", (FIRST_MAX,)),
        ("LRN's squares summed in bf16 (`model.lrn_dtype=compute`)", "1", (LRN,)),
        ("all three", "1", (S2D, FIRST_MAX, LRN)),
        ("all three, profiled run", "1", (S2D, FIRST_MAX, LRN, "--profile_dir")),
        ("space-to-depth conv1 and bf16 LRN: **the shipped default for bf16 on a GPU** (`auto`)",
         "2", (S2D, LRN)),
        ("all three without XLA's command buffers "
         "(`XLA_FLAGS=--xla_gpu_enable_command_buffer=`)", "1",
         (S2D, FIRST_MAX, LRN, "command_buffer")),
    ],
    128: [
        ("lenet_jax before this session", "1", ()),
        ("all three forms", "1", (S2D, FIRST_MAX, LRN)),
        ("space-to-depth conv1", "2", (S2D,)),
        ("space-to-depth conv1 and bf16 LRN (shipped)", "2", (S2D, LRN)),
    ],
}


def session(name):
  return records.sections(*SESSIONS[name])


def lenet_jax_run(found, model, batch, options):
  return records.find(found, "lenet_jax.benchmark", f"config={model}",
                      f"--batch_size={batch}", *options,
                      without=tuple(o for o in OPTIONS if o not in options))


def torch_run(found, model, batch):
  return records.find(found, "torch_anchor.py", f" {model} ", f"--batch {batch}")


def alexnet(batch):
  torch = {s: records.anchor_line(torch_run(session(s), "alexnet", batch)) for s in SESSIONS}
  print(f"| AlexNet, two towers, bf16, batch {batch} | session | images/s | ms/step | MFU "
        "| against torch.compile (same session) |\n|---|---|---|---|---|---|")
  print("| PyTorch torch.compile, channels_last | 1 / 2 | "
        + " / ".join(f"{torch[s]['images_per_s']:,.0f}" for s in SESSIONS) + " | "
        + " / ".join(f"{torch[s]['step_ms']:.2f}" for s in SESSIONS) + " | | |")
  before = None
  for what, name, options in ALEXNET_ROWS[batch]:
    measured = records.benchmark_line(lenet_jax_run(session(name), "configs/alexnet.py",
                                                    batch, options))
    if measured is None:
      print(f"| {what} | {name} | failed to compile "
            "(`ptxas exited with non-zero error code 15`) | | | |")
      continue
    ratio = measured["images_per_s"] / torch[name]["images_per_s"]
    before = ratio if before is None else before
    speed, against = f"{measured['images_per_s']:,}", f"{ratio:.2f}x"
    if "shipped" in what:
      speed, against = f"**{speed}**", f"**{against}**"
    elif ratio < before:
      against += " (slower: not used)"
    print(f"| {what} | {name} | {speed} | {measured['step_ms']:.3f} | {measured['mfu']:.1f}% "
          f"| {against} |")


def lenet5():
  found = session("1")
  print("| workload | lenet_jax | PyTorch eager | ratio | goal |\n|---|---|---|---|---|")
  for batch, goal in ((128, 4), (1024, 2.5)):
    jax_run = records.benchmark_line(lenet_jax_run(found, "configs/lenet5.py", batch, ()))
    torch = records.anchor_line(torch_run(found, "lenet", batch))
    ratio = jax_run["images_per_s"] / torch["images_per_s"]
    print(f"| LeNet-5 modern, batch {batch} | {jax_run['images_per_s']:,} img/s "
          f"({jax_run['step_ms']:.3f} ms/step) | {torch['images_per_s']:,.0f} | "
          f"**{ratio:.1f}x** | >= {goal:g}x: {'met' if ratio >= goal else 'not met'} |")


def prepared():
  log = ("alexnet", "gpu_session_feed_and_ablations_1.log")
  found = records.sections(*log)
  epochs = records.read_jsonl("alexnet", "prepared_train_h200.metrics.jsonl")
  print("| input | command | images/s |\n|---|---|---|")
  for scan in (50, 1):
    run = records.find(found, "lenet_jax.benchmark", f"--config.steps_per_scan={scan}")
    what = f"resident synthetic, {scan} step{'s' if scan > 1 else ''} per dispatch"
    command = (f"`{run['command'].replace('python3', 'python')}`" if scan == 50
               else f"the same with `--config.steps_per_scan={scan}`")
    print(f"| {what} | {command} | {records.benchmark_line(run)['images_per_s']:,} |")
  train = records.find(found, "lenet_jax.main", "source=prepared")
  command = train["command"].replace("python3", "python").split(" --workdir")[0]
  print(f"| prepared set of 20,480 noise JPEGs (10 classes), training loop, epochs 2 / 3 / 4 | "
        f"`{command}` | " + " / ".join(f"{r['images_per_sec']:,.0f}" for r in epochs[1:]) + " |")


def main():
  what = sys.argv[1:]
  if what[:1] == ["alexnet"] and len(what) == 2 and what[1] in ("128", "256"):
    alexnet(int(what[1]))
  elif what == ["lenet5"]:
    lenet5()
  elif what == ["prepared"]:
    prepared()
  else:
    raise SystemExit("error: say which table: alexnet 256, alexnet 128, lenet5 or prepared")


if __name__ == "__main__":
  main()

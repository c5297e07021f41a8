r"""Runs a sweep defined in a config file: every cell, several seeds trained together
(lenet_jax/sweeps/sweep.py).

  python -m lenet_jax.sweep --config=configs/lenet5.py --sweep=ablations --seeds=5 \
      --workdir=runs/ablations [--config.num_epochs=20 ...]

Re-running the same command skips finished cells and resumes an interrupted one.
Writes results.csv, results.md, test_error.png and curves.png into --workdir and
prints the markdown table.

Several workers can share one --workdir, on one machine or many: each takes a shard
(`--shard=I/N`, by default SLURM_ARRAY_TASK_ID/SLURM_ARRAY_TASK_COUNT when set), holds
a cell's lock while training it so that no two train the same one, and takes over a
cell whose worker died. The worker that finds every cell finished writes the results;
`--collect` writes them from the finished cells at any time and names the others.
"""

import os

from absl import flags, logging

from lenet_jax.config import cli
from lenet_jax.config import loading
from lenet_jax.runs import run_record
from lenet_jax.sweeps import cells, sweep


def main(argv):
  cli.begin(argv, sweep="the name of a sweep in the config file's sweep(name)")
  if not flags.FLAGS["verbosity"].present:
    logging.set_verbosity(logging.WARNING)  # per-cell model tables drown the progress lines
  config_arg, f = cli.config_arg(), flags.FLAGS
  sweep_cells = cells.load(config_arg, f.sweep)
  workdir = f.workdir or os.path.join("runs", f"{loading.name(config_arg)}-{f.sweep}")
  if f.collect:
    rows, missing = sweep.write_collected(sweep_cells, workdir, f.claim_timeout_s)
  else:
    changed = run_record.diff(loading.get_config(config_arg), cli.config())
    for note in sweep.overridden(sweep_cells, changed):
      print(note, flush=True)
    rows = sweep.run_sweep(cli.config(), sweep_cells, workdir, f.seeds,
                           shared_order=f.data_order == "shared",
                           checkpoint_secs=f.checkpoint_secs, seed_devices=f.seed_devices,
                           shard=sweep.parse_shard(f.shard), claim_timeout_s=f.claim_timeout_s)
    missing = []
  if rows is None:
    return
  print()
  print(sweep.results_lib.markdown(rows))
  print(f"wrote {workdir}/results.csv, results_seeds.csv, results.md, test_error.png, curves.png"
        + (f" from {len(rows)} finished cells; unfinished: {'; '.join(missing)}" if missing
           else ""), flush=True)


def define_flags():
  flags.DEFINE_string("sweep", None, "Name passed to the config file's sweep(name).")
  flags.DEFINE_integer("seeds", 1, "Seeds per cell, trained together (jax.vmap).")
  flags.DEFINE_enum("data_order", "per_seed", ["per_seed", "shared"],
                    "per_seed: seed k sees the data order of a run with seed k; shared: all "
                    "seeds see the base seed's order (streamed data needs it for several seeds).")
  flags.DEFINE_float(
      "checkpoint_secs", 60.0, "Sets config.checkpoint_secs for every cell: its state is saved "
      "at the first epoch end this many seconds after the last save (0: every epoch), at its "
      "end, and on SIGTERM.")
  flags.DEFINE_integer(
      "seed_devices", 1, "Devices a cell's seeds are spread over (the vmapped seed axis "
      "sharded): 0 takes as many of this host's devices as divide --seeds (8 GPUs, 16 seeds: "
      "2 each); 1 trains them on one device.")
  flags.DEFINE_string("workdir", None, "Where the sweep goes; default runs/<config>-<sweep>, "
                      "so the same command resumes it.")
  flags.DEFINE_string(
      "shard", None, "I/N: train only cells k with k mod N = I (counted from 0), in a --workdir "
      "shared with the other shards' workers. Default: $SLURM_ARRAY_TASK_ID/"
      "$SLURM_ARRAY_TASK_COUNT when both are set, else 0/1 (every cell).")
  flags.DEFINE_bool("collect", False, "Train nothing: write results.csv, results.md and the "
                    "plots from the finished cells in --workdir, and name the unfinished ones.")
  flags.DEFINE_float(
      "claim_timeout_s", 300.0, "A cell held by a worker on another host whose lock has not "
      "been refreshed for this long is taken over (on the same host a dead process is seen at "
      "once).")


if __name__ == "__main__":
  cli.run(main, define_flags)

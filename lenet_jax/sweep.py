r"""Runs a sweep defined in a config file: every cell, several seeds trained together.

  python -m lenet_jax.sweep --config=configs/lenet5.py --sweep=ablations --seeds=5 \
      --workdir=runs/ablations [--config.num_epochs=20 ...]

Re-running the same command skips finished cells and resumes an interrupted one.
Writes results.csv, results.md, test_error.png and curves.png into --workdir and
prints the markdown table.

Several workers can share one --workdir, on one machine or many: each takes a shard
(`--shard=I/N`, by default SLURM_ARRAY_TASK_ID/SLURM_ARRAY_TASK_COUNT when set), claims
a cell before training it so that no two train the same one, and takes over a cell
whose worker died. The worker that finds every cell finished writes the results;
`--collect` writes them from the finished cells at any time and names the others.
"""

import os

from absl import flags, logging
from ml_collections import config_flags

from lenet_jax import cli, sweeps
from lenet_jax.errors import exit_on_user_error
from lenet_jax.sweeps import runner

_CONFIG = config_flags.DEFINE_config_file("config", None, "Base config file; its sweep(name) "
                                          "lists the cells.", lock_config=True)
_SWEEP = flags.DEFINE_string("sweep", None, "Name passed to the config file's sweep(name).")
_SEEDS = flags.DEFINE_integer("seeds", 1, "Seeds per cell, trained together (jax.vmap).")
_ORDER = flags.DEFINE_enum("data_order", "per_seed", ["per_seed", "shared"],
                           "per_seed: seed k sees the data order of a run with seed k; "
                           "shared: all seeds see the base seed's order.")
_CHECKPOINT_SECS = flags.DEFINE_float(
    "checkpoint_secs", 60.0, "A cell's state is saved at the first epoch end this many seconds "
    "after the last save (0: every epoch), at its end, and on SIGTERM.")
_SEED_DEVICES = flags.DEFINE_integer(
    "seed_devices", 1, "Devices a cell's seeds are spread over (the vmapped seed axis "
    "sharded): 0 takes as many of this host's devices as divide --seeds (8 GPUs, 16 seeds: "
    "2 each); 1 trains them on one device.")
_WORKDIR = flags.DEFINE_string("workdir", None, "Where the sweep goes; default "
                               "runs/<config>-<sweep>, so the same command resumes it.")
_SHARD = flags.DEFINE_string(
    "shard", None, "I/N: train only cells k with k mod N = I (counted from 0), in a --workdir "
    "shared with the other shards' workers. Default: $SLURM_ARRAY_TASK_ID/"
    "$SLURM_ARRAY_TASK_COUNT when both are set, else 0/1 (every cell).")
_COLLECT = flags.DEFINE_bool(
    "collect", False, "Train nothing: write results.csv, results.md and the plots from the "
    "finished cells in --workdir, and name the unfinished ones.")
_CLAIM_TIMEOUT = flags.DEFINE_float(
    "claim_timeout_s", 300.0, "A cell claimed by a worker on another host whose claim has not "
    "been refreshed for this long is taken over (on the same host a dead process is seen at "
    "once).")


@exit_on_user_error
def main(argv):
  cli.begin(argv)
  if not flags.FLAGS["verbosity"].present:
    logging.set_verbosity(logging.WARNING)  # per-cell model tables drown the progress lines
  config_arg = flags.FLAGS["config"].config_filename
  cells = sweeps.load(config_arg, _SWEEP.value)
  name = os.path.splitext(os.path.basename(config_arg.split(":")[0]))[0]
  workdir = _WORKDIR.value or os.path.join("runs", f"{name}-{_SWEEP.value}")
  if _COLLECT.value:
    rows, missing = runner.write_collected(cells, workdir, _CLAIM_TIMEOUT.value)
  else:
    rows = runner.run_sweep(_CONFIG.value, cells, workdir, _SEEDS.value,
                            shared_order=_ORDER.value == "shared",
                            checkpoint_secs=_CHECKPOINT_SECS.value,
                            seed_devices=_SEED_DEVICES.value,
                            shard=runner.parse_shard(_SHARD.value),
                            claim_timeout_s=_CLAIM_TIMEOUT.value)
    missing = []
  if rows is None:
    return
  print()
  print(runner.results_lib.markdown(rows))
  print(f"wrote {workdir}/results.csv, results_seeds.csv, results.md, test_error.png, curves.png"
        + (f" from {len(rows)} finished cells; unfinished: {'; '.join(missing)}" if missing
           else ""), flush=True)


if __name__ == "__main__":
  flags.mark_flags_as_required(["sweep"])
  cli.run(main)

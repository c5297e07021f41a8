#!/usr/bin/env bash
# Smoke-sized recordings of the sweep runner's scale-out on this 2-core machine:
# 1. configs/lenet5.py's smoke sweep (4 cells, 3 epochs, 2 seeds, embedded digits)
#    by two workers started at once on one workdir with overlapping shards (0/1 each),
#    so only the cell claims keep them apart; then a third worker on shard 1/2 after a
#    kill of a worker mid-cell, and --collect;
# 2. AlexNet's paper_ablations (7 cells, every knob) at runlocal size on 16 synthetic
#    images (2 steps of 8), 1 seed, split over two shards run one after the other.
# Usage: bash experiments/sharded_sweeps/run.sh RUNS_DIR   (from the repository root)
set -u
runs=${1:?runs dir}
rm -rf "$runs"; mkdir -p "$runs"
lenet() {  # lenet WORKDIR FLAGS... (exec: a background call's $! is python's pid)
  exec python -m lenet_jax.sweep --config=configs/lenet5.py --sweep=smoke --seeds=2 \
    --config.data.source=embedded --checkpoint_secs=0 --workdir="$@"
}
echo "### two workers at once, both --shard=0/1"
(lenet "$runs/smoke" --shard=0/1 > "$runs/worker_a.log" 2>&1) &
(lenet "$runs/smoke" --shard=0/1 > "$runs/worker_b.log" 2>&1) &
wait
for w in a b; do echo "--- worker $w"; grep -v '^epoch' "$runs/worker_$w.log"; done
echo "### kill a worker mid-cell (SIGKILL), then the next worker of that shard"
lenet "$runs/smoke2" --shard=1/2 > "$runs/killed.log" 2>&1 &
pid=$!
# Shard 1/2 is cells 2 and 4: killed once cell 4 has its first checkpoint.
until ls -d "$runs"/smoke2/activation=tanh,pooling=avg*/checkpoints/[0-9]* 2>/dev/null |
      grep -qE '/[0-9]+$'; do  # a finished checkpoint, not orbax's temporary directory
  sleep 0.05; done
kill -9 $pid; wait $pid 2>/dev/null
echo "--- killed worker (pid $pid)"; grep -v '^epoch' "$runs/killed.log"
echo "--- collect now"; (lenet "$runs/smoke2" --collect 2>&1 | tail -2)
echo "--- next worker of shard 1/2"; (lenet "$runs/smoke2" --shard=1/2 2>&1 | grep -v '^epoch')
echo "### AlexNet paper_ablations, runlocal, 16 synthetic images, 1 seed: shard 0/2 then 1/2"
alex=(python -m lenet_jax.sweep --config=configs/alexnet.py:data=synthetic,runlocal=True
      --sweep=paper_ablations --seeds=1 --workdir="$runs/alexnet"
      --config.data.synthetic_train_size=16)
for s in 0 1; do echo "--- shard $s/2"; "${alex[@]}" --shard=$s/2 2>&1 | grep -v '^epoch'; done

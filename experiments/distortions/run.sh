#!/usr/bin/env bash
# The two distortion protocols on the embedded digits, scored every epoch on the official
# MNIST test split, 3 seeds each, the same 1,000 steps of batch 200 (the modern recipe):
#   online: a new transform per image per step, 50 epochs of the 4,000 digits;
#   fixed (the paper's): the 4,000 digits and 9 distorted copies of each, made once,
#          5 epochs of the 40,000.
#   bash experiments/distortions/run.sh RUNS_DIR [MNIST_TEST_DIR]
set -euo pipefail
runs=${1:?runs dir}; test_dir=${2:-../shared/data/mnist_test}; py=${PYTHON:-python}
common=(--config=configs/lenet5.py --config.data.source=embedded
        --config.data.test_dir="$test_dir" --config.distortions.enabled=True)
for seed in 0 1 2; do
  $py -m lenet_jax.main "${common[@]}" --config.seed=$seed --workdir="$runs/online_$seed" | tail -1
  $py -m lenet_jax.main "${common[@]}" --config.seed=$seed --workdir="$runs/fixed_$seed" \
      --config.distortions.protocol=fixed --config.distortions.copies=9 --config.num_epochs=5 | tail -1
done

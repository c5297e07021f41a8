#!/usr/bin/env bash
# Controls for boosted LeNet-4 (after run.sh): what distortions alone and what a plain
# committee alone give, so the boosting's own share can be read off.
#   lenet4_distorted_<seed>: one LeNet-4 trained with online affine distortions;
#   committee_lenet4_<seed>.json: LeNet-4 runs of seeds s, s+1, s+2 (mod 5) from run.sh,
#   softmax outputs added, no filtering (overlapping members: not independent samples).
#   bash experiments/lenet_family/controls.sh RUNS_DIR [MNIST_TEST_DIR]
set -euo pipefail
runs=${1:?runs dir}; test_dir=${2:-../shared/data/mnist_test}; py=${PYTHON:-python}
for seed in 0 1 2 3 4; do
  $py -m lenet_jax.main --config=configs/lenet4.py --config.data.source=embedded \
      --config.data.test_dir="$test_dir" --config.distortions.enabled=True \
      --config.seed=$seed --workdir="$runs/lenet4_distorted_$seed" | tail -1
  members="$runs/lenet4_$seed,$runs/lenet4_$(( (seed + 1) % 5 )),$runs/lenet4_$(( (seed + 2) % 5 ))"
  $py -m lenet_jax.committee --runs="$members" --test_dir="$test_dir" \
      --out="$runs/committee_lenet4_$seed.json" | tail -1
done

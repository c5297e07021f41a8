#!/usr/bin/env bash
# Controls for boosted LeNet-4 (after run.sh): what distortions alone and what a plain
# committee alone give, so the boosting's own share can be read off.
#   lenet4_distorted_<seed>: one LeNet-4 trained with online affine distortions;
#   committee_lenet4_<seed>.json: LeNet-4 runs of seeds s, s+1, s+2 (mod 5) from run.sh,
#   softmax outputs added, no filtering (overlapping members: not independent samples);
#   committee_lenet4_distorted_<seed>.json: the same for the LeNet-4s trained with
#   distortions (what boosting's committee adds beyond distortions and averaging).
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
for seed in 0 1 2 3 4; do
  members=$(for s in $seed $(( (seed + 1) % 5 )) $(( (seed + 2) % 5 )); do
              printf '%s,' "$runs/lenet4_distorted_$s"; done)
  $py -m lenet_jax.committee --runs="${members%,}" --test_dir="$test_dir" \
      --out="$runs/committee_lenet4_distorted_$seed.json" | tail -1
done
# Boosting with every member also trained with online affine distortions.
for seed in 0 1 2 3 4; do
  $py -m lenet_jax.boost --config=configs/lenet4_boosted.py --config.data.source=embedded \
      --config.data.test_dir="$test_dir" --config.distortions.enabled=True \
      --config.seed=$seed --workdir="$runs/lenet4_boosted_distorted_$seed" | tail -1
done

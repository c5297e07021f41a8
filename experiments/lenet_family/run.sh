#!/usr/bin/env bash
# The 1998 paper's comparison of its convolutional networks (section III.C.6), on this
# project's offline data: trained on the 4,000 embedded MNIST digits, every epoch scored
# on the official 10,000-image test split (the last epoch is what the tables report;
# nothing is chosen from these scores). The modern recipe of configs/lenet5.py for every
# network; ':paper' rows use the 1998 units (scaled tanh, subsampling, paper init).
#   bash experiments/lenet_family/run.sh RUNS_DIR [MNIST_TEST_DIR] [SEEDS]
set -euo pipefail
runs=${1:?runs dir}; test_dir=${2:-../shared/data/mnist_test}; seeds=${3:-"0 1 2 3 4"}
py=${PYTHON:-python}
common=(--config.data.source=embedded --config.data.test_dir="$test_dir")
for seed in $seeds; do
  for variant in lenet1 lenet1:paper lenet4 lenet4:paper lenet5; do
    name=${variant/:/_}; file=${variant%%:*}; arg=${variant#$file}
    $py -m lenet_jax.main --config=configs/$file.py$arg "${common[@]}" --config.seed=$seed \
        --workdir="$runs/${name}_$seed" | tail -1
  done
  $py -m lenet_jax.main --config=configs/lenet5.py "${common[@]}" --config.seed=$seed \
      --config.distortions.enabled=True --workdir="$runs/lenet5_distorted_$seed" | tail -1
  $py -m lenet_jax.boost --config=configs/lenet4_boosted.py "${common[@]}" \
      --config.seed=$seed --workdir="$runs/lenet4_boosted_$seed" | tail -1
done

#!/usr/bin/env bash
# The recorded ablation sweeps. Usage: bash experiments/ablations/run.sh RUNS_DIR MNIST_TEST_DIR FASHION_DIR [mnist|fashion]
# MNIST: trained on the 4,000 embedded digits, scored on the official test split.
# Fashion-MNIST: the full 60,000/10,000 IDX files (Debian's dataset-fashion-mnist).
set -euo pipefail
runs=${1:?runs dir}; mnist_test=${2:?mnist test dir}; fashion=${3:?fashion-mnist IDX dir}; which=${4:-all}
if [[ $which == all || $which == mnist ]]; then
  for sweep in ablations c3_output; do
    python -m lenet_jax.sweep --config=configs/lenet5.py --sweep=$sweep --seeds=5 \
      --workdir="$runs/mnist_$sweep" --config.data.source=embedded \
      --config.data.test_dir="$mnist_test"
  done
fi
if [[ $which == all || $which == fashion ]]; then
  for sweep in ablations c3_output; do
    python -m lenet_jax.sweep --config=configs/lenet5.py:data=fashion_mnist --sweep=$sweep \
      --seeds=5 --workdir="$runs/fashion_$sweep" --config.data.source=idx \
      --config.data.dir="$fashion" --config.num_epochs=30
  done
fi

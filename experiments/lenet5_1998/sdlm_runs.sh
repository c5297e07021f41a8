#!/usr/bin/env bash
# SDLM's mu for both curvature estimates, and plain SGD at the same per-sample rates:
# configs/lenet5_1998.py (20 passes at batch 1, the paper's schedule) on the embedded
# digits, each scored on the official MNIST test split.
#   bash experiments/lenet5_1998/sdlm_runs.sh RUNS_DIR [MNIST_TEST_DIR]
set -euo pipefail
runs=${1:?runs dir}; test_dir=${2:-../shared/data/mnist_test}; py=${PYTHON:-python}
score() {
  $py -m lenet_jax.evaluate --workdir="$1" --config.data.source=idx --config.data.dir="$test_dir" \
      2>/dev/null | tail -1
}
for curvature in exact paper; do
  for mu in 0.02 0.1 1; do
    w="$runs/${curvature}_mu$mu"
    $py -m lenet_jax.main --config=configs/lenet5_1998.py:mu=$mu,curvature=$curvature \
        --config.data.source=embedded --workdir="$w" 2>/dev/null | tail -1
    echo "$curvature mu=$mu: $(score "$w")"
  done
done
w="$runs/sgd"
$py -m lenet_jax.main --config=configs/lenet5_1998.py --config.optimizer=sgd \
    --config.momentum=0.0 --config.data.source=embedded --workdir="$w" 2>/dev/null | tail -1
echo "sgd (the same per-sample rates): $(score "$w")"

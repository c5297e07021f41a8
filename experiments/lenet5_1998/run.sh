#!/usr/bin/env bash
# Every run of experiments/lenet5_1998: train on the embedded MNIST digits, then
# score the last checkpoint on the official MNIST test split.
#   bash experiments/lenet5_1998/run.sh [RUNS_DIR] [MNIST_TEST_DIR] [RECORD_DIR]
# With RECORD_DIR, each run's metrics.jsonl and versions.json are copied there as
# <run>.metrics.jsonl / <run>.versions.json, and every official-split score is
# appended to RECORD_DIR/official_scores.jsonl (evaluate's JSON line).
set -euo pipefail
runs=${1:-runs/lenet5_1998}
test_dir=${2:-../shared/data/mnist_test}
record=${3:-}
py=${PYTHON:-python}
[ -n "$record" ] && mkdir -p "$record"

train_and_score() {  # name, then the config and its overrides
  local name=$1; shift
  local start=$SECONDS
  $py -m lenet_jax.main --workdir="$runs/$name" "$@" | grep -E "^(epoch +[0-9]+/|done)"
  echo "$name: train wall time $((SECONDS - start)) s"
  $py -m lenet_jax.evaluate --workdir="$runs/$name" \
      --config.data.source=idx --config.data.dir="$test_dir" \
      ${record:+--out="$record/official_scores.jsonl"}
  if [ -n "$record" ]; then
    cp "$runs/$name/metrics.jsonl" "$record/$name.metrics.jsonl"
    cp "$runs/$name/versions.json" "$record/$name.versions.json"
  fi
}

train_and_score sdlm_mu1 --config=configs/lenet5_1998.py
train_and_score sdlm_mu1_distorted --config=configs/lenet5_1998.py:distorted
train_and_score sdlm_mu0.1 --config=configs/lenet5_1998.py:mu=0.1
train_and_score sdlm_mu0.02_paper --config=configs/lenet5_1998.py:mu=0.02
train_and_score modern --config=configs/lenet5.py
train_and_score modern_distorted --config=configs/lenet5.py --config.distortions.enabled=True

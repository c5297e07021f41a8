#!/usr/bin/env bash
# Toward >= 98.5% on the official MNIST test split from the 4,000 embedded training
# digits: LeNet-5's modern recipe (configs/lenet5.py) plus, one at a time, what is known
# to help on small MNIST subsets. The recipes were fixed before any of these runs; each
# run is scored at its last epoch, and no setting was chosen from these test scores
# (the elastic field's sigma 4 and alpha 34 are Simard et al.'s, 2003, not tuned here).
#   affine:    online affine distortions (our ranges), 50 epochs  [= run.sh's lenet5_distorted]
#   elastic:   affine + elastic distortions, 50 epochs
#   elastic150: affine + elastic distortions, 150 epochs
#   committee: the elastic150 seeds' nets, softmax outputs added (lenet_jax.committee)
#   bash experiments/lenet_family/moonshot.sh RUNS_DIR [MNIST_TEST_DIR] [SEEDS]
set -euo pipefail
runs=${1:?runs dir}; test_dir=${2:-../shared/data/mnist_test}; seeds=${3:-"0 1 2 3 4"}
py=${PYTHON:-python}
common=(--config=configs/lenet5.py --config.data.source=embedded
        --config.data.test_dir="$test_dir" --config.distortions.enabled=True)
elastic=(--config.distortions.elastic_alpha=34.0 --config.distortions.elastic_sigma=4.0)
members=()
for seed in $seeds; do
  $py -m lenet_jax.main "${common[@]}" "${elastic[@]}" --config.seed=$seed \
      --workdir="$runs/elastic_$seed" | tail -1
  $py -m lenet_jax.main "${common[@]}" "${elastic[@]}" --config.seed=$seed \
      --config.num_epochs=150 --workdir="$runs/elastic150_$seed" | tail -1
  members+=("$runs/elastic150_$seed")
done
$py -m lenet_jax.committee --runs="$(IFS=,; echo "${members[*]}")" --test_dir="$test_dir" \
    --out="$runs/committee_elastic150.json"

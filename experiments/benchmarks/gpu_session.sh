#!/usr/bin/env bash
# One GPU session's measurements, in priority order, each command's output in $OUT/log.txt:
# AlexNet (bf16, batch 256 and 128) against PyTorch torch.compile in the same run, its
# profile, the alternative formulations one at a time and together, two XLA flags,
# LeNet-5 against PyTorch, and time to 98% on the official MNIST test split.
#
#   OUT=/tmp/out bash experiments/benchmarks/gpu_session.sh   # from the repository root
#
# Needs (the GPU image lacks them): .whl/ with ml_collections, tensorboardX and mlxtend
# wheels; .devdata/torch_anchor.py (../shared/bench) and .devdata/mnist_test/ (the
# official test split). Stops starting new commands after BUDGET_S seconds.
set -u
OUT=${OUT:-/tmp/gpu_session}
BUDGET_S=${BUDGET_S:-470}
mkdir -p "$OUT"
LOG=$OUT/log.txt
START=$(date +%s)
if ls .whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl
  export PYTHONPATH=/tmp/site:$PWD
fi
export PYTHONUNBUFFERED=1 LENET_JAX_OFFLINE=1

run() {  # run LABEL COMMAND...: skipped once the budget is spent
  local label=$1; shift
  local left=$(( BUDGET_S - ($(date +%s) - START) ))
  if (( left < 20 )); then echo "### $label: skipped, budget spent" | tee -a "$LOG"; return; fi
  echo "### $label ($(( $(date +%s) - START )) s): $*" | tee -a "$LOG"
  timeout $(( left < 150 ? left : 150 )) "$@" 2>&1 | grep -v '^[IW][0-9]\{4\} ' | tee -a "$LOG"
}

{ nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
  python3 -c "import jax, flax, optax, torch; print('jax', jax.__version__, 'flax', flax.__version__, 'optax', optax.__version__, 'torch', torch.__version__, jax.devices())"
} 2>&1 | tee -a "$LOG"

A="python3 -m lenet_jax.benchmark --config=configs/alexnet.py:data=synthetic --config.model.dtype=bfloat16 --steps=200 --config.steps_per_scan=50"
ALL="--config.model.conv1=space_to_depth --config.model.pool_gradient=first_max --config.model.lrn_dtype=compute"
TORCH=".devdata/torch_anchor.py alexnet --device cuda --steps 50 --bf16 --channels-last --compile"

run torch_b256 python3 $TORCH --batch 256
run jax_b256 $A --batch_size=256
run jax_b256_s2d $A --batch_size=256 --config.model.conv1=space_to_depth
run jax_b256_firstmax $A --batch_size=256 --config.model.pool_gradient=first_max
run jax_b256_lrnbf16 $A --batch_size=256 --config.model.lrn_dtype=compute
run jax_b256_all $A --batch_size=256 $ALL
run torch_b128 python3 $TORCH --batch 128
run jax_b128 $A --batch_size=128
run jax_b128_all $A --batch_size=128 $ALL
run jax_b256_profile $A --batch_size=256 --profile_dir=/tmp/prof
run lenet_torch_b128 python3 .devdata/torch_anchor.py lenet --device cuda --batch 128 --steps 300
run lenet_jax_b128 python3 -m lenet_jax.benchmark --config=configs/lenet5.py --batch_size=128 --steps=3000 --config.steps_per_scan=500
run lenet_torch_b1024 python3 .devdata/torch_anchor.py lenet --device cuda --batch 1024 --steps 300
run lenet_jax_b1024 python3 -m lenet_jax.benchmark --config=configs/lenet5.py --batch_size=1024 --steps=3000 --config.steps_per_scan=500
run time_to_98 python3 -m lenet_jax.main --config=configs/lenet5.py --workdir=/tmp/t98 --config.data.source=embedded --config.distortions.enabled=True --config.data.test_dir=.devdata/mnist_test
cp /tmp/t98/metrics.jsonl "$OUT/time_to_98.metrics.jsonl" 2>/dev/null
run jax_b256_all_profile $A --batch_size=256 $ALL --profile_dir=/tmp/prof_all
run jax_b256_no_command_buffer env XLA_FLAGS=--xla_gpu_enable_command_buffer= $A --batch_size=256 $ALL
echo "### done ($(( $(date +%s) - START )) s)" | tee -a "$LOG"

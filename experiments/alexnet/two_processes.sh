#!/usr/bin/env bash
# AlexNet's towers on a 2x2 mesh: one process with 4 fake CPU devices, then two
# processes with 2 devices each joined by jax.distributed (gloo), on this machine.
set -euo pipefail
export LENET_JAX_OFFLINE=1 JAX_PLATFORMS=cpu
out=${1:-/tmp/two_processes}; port=${2:-12355}
F="--config.data.source=synthetic --config.data.resize=67 --config.data.synthetic_shape=(67,67,3)
   --config.data.synthetic_train_size=64 --config.data.synthetic_test_size=16 --config.batch_size=8
   --config.eval_batch_size=8 --config.num_epochs=1 --config.log_step_losses=True --config.parallel.data=2"
rm -rf "$out"
XLA_FLAGS=--xla_force_host_platform_device_count=4 python -m lenet_jax.main \
  --config=configs/alexnet_2gpu.py:data=synthetic --workdir="$out/one_process" $F
for i in 0 1; do
  XLA_FLAGS=--xla_force_host_platform_device_count=2 python -m lenet_jax.main \
    --config=configs/alexnet_2gpu.py:data=synthetic --workdir="$out/two_processes" $F \
    --config.parallel.distributed=True --config.parallel.coordinator_address=localhost:$port \
    --config.parallel.num_processes=2 --config.parallel.process_id=$i &
done
wait
paste "$out/one_process/steps.jsonl" "$out/two_processes/steps.jsonl"

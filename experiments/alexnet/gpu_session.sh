#!/usr/bin/env bash
# One GPU session (issue: AlexNet's ablation table and the prepared feed on a GPU):
# 1. PART=feed (the default): the prepared feed: input_pipeline.py on the GPU host with
#    2 read threads and with training's default, then AlexNet bf16 batch 256 trained
#    from a prepared set (read threads 8 and 16, batches placed 2 ahead in a thread or
#    in the loop) against the synthetic-resident step benchmark;
# 2. PART=ablations (recorded in ablations/): AlexNet's paper_ablations (less the PCA
#    cell, which needs streamed input) on Fashion-MNIST at 227, 3 seeds, resumable: a
#    second call continues it.
# 3. PART=norm, PART=deviations: the full-size network's sweep('norm') (LRN, BatchNorm,
#    none) and sweep('deviations') (the 2012 code's choices against the paper's text),
#    the same data, epochs and seeds as PART=ablations; measured so far at reduced size on
#    a CPU (norm_ablation/, deviations/sweep/). About 80 s a cell on an H200 (ablations/):
#    norm 4 min, deviations 14 min, so deviations takes two calls (it resumes).
#
#   OUT=/tmp/out bash experiments/alexnet/gpu_session.sh   # from the repository root
#   SMOKE=1 OUT=/tmp/smoke bash experiments/alexnet/gpu_session.sh   # on a CPU, before:
#     every command of PART=feed at a tiny size (512 images, batch 32, 2 epochs), so
#     that a GPU session does not find a broken command
#
# Needs (the GPU image lacks them): .whl/ with ml_collections, tensorboardX, mlxtend,
# grain, array_record, cloudpickle, etils, portpicker and psutil wheels; .devdata/fashion
# (Debian's Fashion-MNIST IDX files, PART=ablations, norm and deviations). Both are ignored by git; made
# here (where the package registries are reachable), from the repository root:
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 \
#     --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_24_x86_64 \
#     --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d .whl \
#     ml_collections==1.1.0 tensorboardx==2.6.5 mlxtend==0.25.0 grain==0.2.18 \
#     array_record==0.8.6 cloudpickle==3.1.3 etils==1.15.0 portpicker==1.6.0 psutil==7.2.2
#   mkdir -p .devdata && cp -r /usr/share/datasets/fashion-mnist .devdata/fashion
# and carried to the GPU machine with the run (carry: .whl, .devdata).
# Stops starting commands after BUDGET_S seconds.
set -u
OUT=${OUT:-/tmp/gpu_session}
BUDGET_S=${BUDGET_S:-540}
PART=${PART:-feed}  # feed (the prepared feed against the synthetic benchmark), ablations, norm, deviations, or all
SMOKE=${SMOKE:-0}
if (( SMOKE )); then  # sizes: prepared images, batch, epochs, benchmark steps and per dispatch
  # (one step a dispatch: a scan of bf16 AlexNet steps runs 12x slower on a CPU)
  IMAGES=512 BATCH=32 EPOCHS=2 STEPS=2 SCAN=1 DIR=/tmp/ib_smoke
else
  # 61,440 training images: 240 steps an epoch (1.6 s at the synthetic benchmark's
  # 38k images/s), so an epoch's start (first read, first copy) and end (the sync) weigh
  # less than in the 80-step epochs of the 20,480 images measured before; ImageNet's
  # epochs have 5,004. Prepared once (about 30 s on 16 cores), then reused.
  IMAGES=61440 BATCH=256 EPOCHS=4 STEPS=200 SCAN=50 DIR=/tmp/ib
fi
mkdir -p "$OUT"
LOG=$OUT/log.txt
START=$(date +%s)
if (( ! SMOKE )); then
  python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl 2>&1 | tail -2
fi
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 LENET_JAX_OFFLINE=1

run() {  # run LIMIT_S LABEL COMMAND...
  local limit=$1 label=$2; shift 2
  local left=$(( BUDGET_S - ($(date +%s) - START) ))
  if (( left < 30 )); then echo "### $label: skipped, budget spent" | tee -a "$LOG"; return; fi
  echo "### $label ($(( $(date +%s) - START )) s): $*" | tee -a "$LOG"
  timeout $(( left < limit ? left : limit )) "$@" 2>&1 | grep -v '^[IW][0-9]\{4\} \|^prepare: [0-9,]*/' | tee -a "$LOG"
}

{ nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader; nproc
  python3 -c "import jax, flax, optax, grain, numpy; print('jax', jax.__version__, 'flax', flax.__version__, 'optax', optax.__version__, 'grain', grain.__version__ if hasattr(grain, '__version__') else '0.2.18', 'numpy', numpy.__version__, jax.devices())"
} 2>&1 | tee -a "$LOG"

if [[ $PART == all || $PART == feed ]]; then
  run 150 input_pipeline_2_threads python3 experiments/alexnet/input_pipeline.py --prepared $IMAGES --dir $DIR --batch $BATCH --images 1024 --threads 16 --skip_array_record --read_threads 2
  run 150 input_pipeline_default_threads python3 experiments/alexnet/input_pipeline.py --prepared $IMAGES --dir $DIR --batch $BATCH --images 1024 --threads 16 --skip_array_record --reuse
  # read threads (0: one per core up to 8, training's default) and device prefetch (2, the
  # default: batches placed 2 ahead in a thread; 0: in the loop)
  for variant in "0 2" "16 2" "0 0"; do
    set -- $variant; name=read_threads_$1_device_prefetch_$2
    rm -rf $DIR/run_$name  # a new run, not a resumed one
    run 150 prepared_train_$name python3 -m lenet_jax.main --config=configs/alexnet.py:data=imagenette --config.data.source=prepared --config.data.dir=$DIR/prepared --config.data.read_threads=$1 --config.data.device_prefetch=$2 --config.model.dtype=bfloat16 --config.batch_size=$BATCH --config.num_epochs=$EPOCHS --workdir=$DIR/run_$name
    cp $DIR/run_$name/metrics.jsonl "$OUT/prepared_train_$name.metrics.jsonl" 2>/dev/null
  done
  run 100 synthetic_b$BATCH python3 -m lenet_jax.benchmark --config=configs/alexnet.py:data=synthetic --config.model.dtype=bfloat16 --batch_size=$BATCH --steps=$STEPS --config.steps_per_scan=$SCAN
  run 100 synthetic_b${BATCH}_single_steps python3 -m lenet_jax.benchmark --config=configs/alexnet.py:data=synthetic --config.model.dtype=bfloat16 --batch_size=$BATCH --steps=$STEPS --config.steps_per_scan=1
fi
if [[ $PART == all || $PART == ablations ]]; then
  run 600 ablations python3 -m lenet_jax.sweep --config=configs/alexnet.py:data=fashion_mnist --sweep=paper_ablations_resident --seeds=3 --workdir=runs/alexnet_ablations --config.data.source=idx --config.data.dir=.devdata/fashion --config.model.dtype=bfloat16 --config.model.init=he --config.num_epochs=5 '--config.piecewise_epochs=(3, 4)' --checkpoint_secs=120
  (cd runs && find alexnet_ablations \( -name '*.json' -o -name '*.jsonl' -o -name '*.md' -o -name '*.csv' -o -name '*.png' \) -print0 | tar --null -czf "$OUT/alexnet_ablations.tgz" -T -)
fi
for sweep in norm deviations; do
  if [[ $PART == all || $PART == $sweep ]]; then
    # He's init for every cell of norm; deviations sets init per cell (its paper-init cells)
    init=$([[ $sweep == norm ]] && echo "--config.model.init=he")
    run 600 $sweep python3 -m lenet_jax.sweep --config=configs/alexnet.py:data=fashion_mnist --sweep=$sweep --seeds=3 --workdir=runs/alexnet_$sweep --config.data.source=idx --config.data.dir=.devdata/fashion --config.model.dtype=bfloat16 $init --config.num_epochs=5 '--config.piecewise_epochs=(3, 4)' --checkpoint_secs=120
    (cd runs && find alexnet_$sweep \( -name '*.json' -o -name '*.jsonl' -o -name '*.md' -o -name '*.csv' \) -print0 | tar --null -czf "$OUT/alexnet_$sweep.tgz" -T -)
  fi
done
echo "### done ($(( $(date +%s) - START )) s)" | tee -a "$LOG"

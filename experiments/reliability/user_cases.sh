#!/usr/bin/env bash
# The new-user cases of experiments/reliability/README.md: for each, the exit status, the
# number of lines printed (stdout and stderr together) and the last line.
#   bash experiments/reliability/user_cases.sh [PYTHON]    # from a checkout's root
set -u
PY=${1:-python}
T=$(mktemp -d)
export LENET_JAX_OFFLINE=1 JAX_PLATFORMS=cpu
M="--config=configs/lenet5.py --config.data.source=embedded"
case_() {  # case_ NAME COMMAND...
  local name=$1; shift
  "$@" > "$T/out" 2>&1; local rc=$?
  printf '%s | exit %s | %s lines | %s\n' "$name" "$rc" "$(wc -l < "$T/out")" \
    "$(grep -v '^\s*$' "$T/out" | tail -1 | cut -c1-160)"
}
$PY -m lenet_jax.main $M --workdir=$T/run --config.num_epochs=2 > /dev/null 2>&1
cp -r $T/run $T/run_copy
case_ "resume with --config.model.c3=table" $PY -m lenet_jax.main $M --workdir=$T/run --config.num_epochs=2 --config.model.c3=table
echo "  config.json afterwards says c3=$(grep -o '"c3": "[a-z]*"' $T/run/config.json)"
rm -rf $T/run && cp -r $T/run_copy $T/run
rm $T/run/checkpoints/40/default/_METADATA
case_ "evaluate, newest checkpoint's _METADATA deleted" $PY -m lenet_jax.evaluate --workdir=$T/run
case_ "resume, newest checkpoint's _METADATA deleted" $PY -m lenet_jax.main $M --workdir=$T/run --config.num_epochs=3
case_ "disk full (files over 200 kB refused)" bash -c "ulimit -f 195; trap '' XFSZ; exec $PY -m lenet_jax.main $M --workdir=$T/full --config.num_epochs=2"
case_ "--config.num_epoch=3 (main)" $PY -m lenet_jax.main $M --config.num_epoch=3
case_ "--config.foo=1 (sweep)" $PY -m lenet_jax.sweep $M --sweep=smoke --config.foo=1
case_ "--config.num_epoch=3 (evaluate)" $PY -m lenet_jax.evaluate --workdir=$T/run_copy --config.num_epoch=3
printf 'import ml_collections\n\ndef get_config(:\n' > $T/bad.py
case_ "config file with a syntax error" $PY -m lenet_jax.main --config=$T/bad.py
case_ "evaluate on 32x32x3 synthetic data" $PY -m lenet_jax.evaluate --workdir=$T/run_copy --config.data.name=synthetic --config.data.source=synthetic "--config.data.synthetic_shape=(32, 32, 3)"
case_ "--config.num_epochs=abc" $PY -m lenet_jax.main $M --config.num_epochs=abc
case_ "--config.distortions.enabled=2" $PY -m lenet_jax.main $M --config.distortions.enabled=2
case_ "evaluate --help" $PY -m lenet_jax.evaluate --help
case_ "plots --help" $PY -m lenet_jax.plots --help
case_ "plots --out=missing/folder/c.png" $PY -m lenet_jax.plots --out=$T/missing/folder/c.png $T/run_copy
case_ "cifar10 with no copy" $PY -m lenet_jax.main --config=configs/lenet5.py:data=cifar10 --workdir=$T/c
rm -rf "$T"

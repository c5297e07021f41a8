#!/usr/bin/env bash
# The by-hand pass over where commands meet (sweep directories, stops in start-up, one
# error line, readers and a changed network, a crafted weights file, the small cases),
# run in a clean clone CHECKOUT with this repository's .venv:
#
#   bash experiments/reliability/seams_by_hand.sh CHECKOUT > seams_by_hand.txt
#
# Uses /tmp/byhand/w as its scratch directory.
set -u
PY=$(cd "$(dirname "$0")/../.." && pwd)/.venv/bin/python
R=$1; cd "$R"; export PYTHONPATH=$R LENET_JAX_OFFLINE=1 JAX_PLATFORMS=cpu
W=/tmp/byhand/w; rm -rf $W; mkdir -p $W
show() { echo "\$ ${*//"$PY"/.venv/bin/python}"; "$@" > $W/out 2>&1; rc=$?; tail -n 3 $W/out | cut -c1-400; echo "(exit $rc)"; echo; }
E="--config.data.source=embedded"
echo "## 1. a sweep's directories"
$PY -m lenet_jax.sweep --config=configs/lenet5.py --sweep=ablations --seeds=1 --config.num_epochs=40 $E --workdir=$W/S > $W/sweep.log 2>&1 &
SP=$!
until [ -f "$W/S/activation=relu,pooling=max/seed_0/metrics.jsonl" ]; do sleep 1; done
show $PY -m lenet_jax.main --config=configs/lenet5.py $E "--workdir=$W/S/activation=relu,pooling=max/seed_0"
show $PY -m lenet_jax.main --config=configs/lenet5.py $E --workdir=$W/S
show $PY -m lenet_jax.sweep --config=configs/lenet5.py --sweep=smoke $E --workdir=$W/S
kill -TERM $SP; wait $SP; echo "sweep: exit $?; $(tail -n 1 $W/sweep.log)"
$PY - <<PY
import json
recs=[json.loads(l) for l in open("$W/S/activation=relu,pooling=max/seed_0/metrics.jsonl")]
print("seed_0 metrics epochs:", [r["epoch"] for r in recs])
PY
$PY -m lenet_jax.main --config=configs/lenet5.py $E --config.num_epochs=30 --workdir=$W/M > $W/main.log 2>&1 &
MP=$!
until [ -f "$W/M/metrics.jsonl" ]; do sleep 1; done
show $PY -m lenet_jax.sweep --config=configs/lenet5.py --sweep=smoke $E --workdir=$W
kill -TERM $MP; wait $MP; echo "main: exit $?; $(tail -n 1 $W/main.log)"; echo
echo "## 2. stops during start-up"
for sig in TERM INT; do
  $PY -m lenet_jax.main --config=configs/lenet5.py $E --config.model.implementation=xla --config.steps_per_scan=20 --workdir=$W/stop$sig > $W/stop.log 2>&1 &
  P=$!; until grep -q "OUTPUT " $W/stop.log 2>/dev/null; do sleep 0.1; done; sleep 0.5
  t0=$(date +%s.%N); kill -$sig $P; wait $P; rc=$?; t1=$(date +%s.%N)
  echo "SIG$sig while compiling: exit $rc after $(echo "$t1 - $t0" | bc) s: $(tail -n 1 $W/stop.log); crash text: $(grep -c -E 'terminate called|Fatal Python|Segmentation|Traceback' $W/stop.log); workdir left: $(ls -d $W/stop$sig 2>/dev/null || echo none)"
  $PY -m lenet_jax.main --config=configs/lenet5.py $E --workdir=$W/imp$sig > $W/imp.log 2>&1 &
  P=$!; sleep 0.8; kill -$sig $P; wait $P; echo "SIG$sig 0.8 s after the start (importing): exit $?: $(tail -n 1 $W/imp.log)"
done
echo
echo "## 3. one error line each"
touch $W/afile
show $PY -m lenet_jax.sweep --config=configs/lenet5.py --sweep=smoke $E --workdir=$W/afile/x
show $PY -m lenet_jax.main --config=configs/lenet5.py $E --config.num_epochs=2 --workdir=$W/run
show $PY -m lenet_jax.figures --workdir=$W/run --out=$W/afile
show $PY -m lenet_jax.main --config=configs/lenet5.py $E --config.num_epochs=1 --workdir=$W/prof --profile_dir=$W/afile
head -c -20 $W/run/metrics.jsonl > $W/m && cp $W/m $W/run/metrics.jsonl
show $PY -m lenet_jax.main --config=configs/lenet5.py $E --config.num_epochs=3 --workdir=$W/run
$PY -m lenet_jax.sweep --config=configs/lenet5.py --sweep=smoke --seeds=2 $E --workdir=$W/S2 > /dev/null 2>&1
show $PY -m lenet_jax.evaluate "--workdir=$W/S2/$(ls $W/S2 | grep = | head -n 1)"
echo "## 4. evaluate with a changed network"
show $PY -m lenet_jax.evaluate --workdir=$W/run --config.model.activation=tanh
echo "evaluations.jsonl lines: $(cat $W/run/evaluations.jsonl 2>/dev/null | wc -l)"
echo "## 5. a crafted weights file"
$PY - <<PY
import numpy as np, os
class Boom:
    def __reduce__(self):
        return (os.system, ("touch $W/pwned",))
np.save("$W/evil.npy", np.array([Boom()], dtype=object), allow_pickle=True)
PY
show $PY -m lenet_jax.import_weights --format=bvlc_npy --file=$W/evil.npy --config=configs/alexnet.py:data=imagenet2012 --workdir=$W/imp
echo "the payload's file exists: $(ls $W/pwned 2>/dev/null || echo no)"
echo "## 6. the small cases"
show $PY -m lenet_jax.main --config=configs/lenet5.py $E --config.data.test_dir=/nonexist --workdir=$W/t6
$PY -m lenet_jax.main --config=configs/alexnet.py:data=synthetic,runlocal --config.data.resize=67 "--config.data.synthetic_shape=(67, 67, 3)" --config.model.fc_units=256 --config.data.synthetic_classes=10 --workdir=$W/alex > /dev/null 2>&1
show $PY -m lenet_jax.main --config=configs/lenet5.py $E --config.init_from=$W/alex --workdir=$W/t6b
show $PY -m lenet_jax.main --config=configs/lenet5.py $E "--workdir=$W/S2/$(ls $W/S2 | grep = | head -n 1)/seed_0"
show $PY -m lenet_jax.sweep --config=configs/lenet5.py --sweep=smoke $E --workdir=$W/run
echo "sweep.json left in a refused sweep's directory: $(ls $W/run/sweep.json 2>/dev/null || echo no)"
$PY -m lenet_jax.figures --workdir=$W/run --out=$W/figs > $W/out 2>&1; echo "figures: 'data:' lines printed: $(grep -c '^data:' $W/out)"

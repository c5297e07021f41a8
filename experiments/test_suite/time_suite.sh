#!/usr/bin/env bash
# One timed run of the README's test command in a checkout, logged with its wall and CPU
# time (the fourth round's runs; experiments/test_suite/README.md):
#
#   bash experiments/test_suite/time_suite.sh CHECKOUT LABEL [VAR=VALUE ...]
#
# runs `python -m pytest -q -n 2 tests --durations=0 -p no:cacheprovider` in CHECKOUT with
# this repository's .venv, PYTHONPATH=CHECKOUT and the VAR=VALUE settings (e.g.
# LENET_JAX_TEST_NO_ZYGOTE=1, LENET_JAX_TEST_NO_CHEAP_EMITTERS=1), and writes pytest's
# output, then the start time, the settings and bash's `time`, to
# experiments/test_suite/LABEL.log.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
python=$(cd "$here/../.." && pwd)/.venv/bin/python
checkout=$(cd "$1" && pwd)
log=$here/$2.log
shift 2
cd "$checkout"
started=$(date +%H:%M:%S)
TIMEFORMAT="real %R s, user %U s, sys %S s"
{ time env PYTHONPATH="$checkout" "$@" "$python" -m pytest -q -n 2 tests --durations=0 \
    -p no:cacheprovider > "$log" 2>&1 || true; } 2> "$log.time"
{ echo "started $started; checkout $(git -C "$checkout" rev-parse --short HEAD); settings: $*"
  cat "$log.time"; } >> "$log"
rm "$log.time"
tail -n 3 "$log"

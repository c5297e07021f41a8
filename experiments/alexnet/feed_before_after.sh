#!/usr/bin/env bash
# The prepared feed before (300475d: fancy-index gather into fresh buffers, placed in the
# loop) and after (np.take into reused buffers; placed in the loop and 2 ahead), back to
# back on one machine. Needs a worktree of 300475d: git worktree add /tmp/old_tree 300475d
set -u
cd "$(dirname "$0")/../.."
for rep in 1 2; do
  echo "### before (300475d), rep $rep"
  (cd /tmp/old_tree && PYTHONPATH=/tmp/old_tree "$OLDPWD"/.venv/bin/python experiments/alexnet/input_pipeline.py --prepared 20000 --dir /tmp/ib --batch 256 --images 512 --skip_array_record 2>&1 | grep -v '^[IW][0-9]\{4\} \|^prepare: [0-9,]*/')
  echo "### after ($(git rev-parse --short HEAD)), rep $rep"
  .venv/bin/python experiments/alexnet/input_pipeline.py --prepared 20000 --dir /tmp/ib --batch 256 --images 512 --skip_array_record 2>&1 | grep -v '^[IW][0-9]\{4\} \|^prepare: [0-9,]*/'
done

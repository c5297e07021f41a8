"""Loading a run: its last checkpoint's state as the run's task sees it.

evaluate, predict, figures, the committee and fine-tuning (`config.init_from`) load runs
through here; none of them imports the training loop.
"""

import os

from lenet_jax.common.errors import UserError
from lenet_jax.runs import validation
from lenet_jax.models import task as task_lib
from lenet_jax.optim import optimizers
from lenet_jax.runs import checkpoint, metrics, run_record


def checkpoint_like(task, tx, partial=None) -> dict:
  """The tree a checkpoint holds: the training state and the metric sums of an epoch
  stopped part-way (zeros at an epoch's end)."""
  return {"train": task_lib.init_state(task, tx),
          "partial": metrics.zero_sums() if partial is None else partial}


def load_state(config, workdir: str, resolved=None):
  """(step, training state, task) of the newest checkpoint in `workdir` that restores,
  for `config`'s model (`resolved`: the config's validation, done here if not given).
  The task's own `params` are shapes only: the state's are the run's."""
  run_record.check_single_run(workdir)
  run_record.reader_overrides(workdir, config)
  resolved = resolved or validation.validate(config)
  task = task_lib.Task(config, resolved, draw_params=False)
  if not os.path.isdir(os.path.join(workdir, "checkpoints")):
    raise UserError(f"{workdir} holds no checkpoints/; train first with lenet_jax.main")
  ckpt = checkpoint.Checkpointer(workdir, config.checkpoint_keep)
  try:
    step, state = ckpt.restore_latest(checkpoint_like(task, optimizers.create(config, 1)))
    if step is None:
      raise UserError(f"{ckpt.directory} holds no checkpoint; train first with lenet_jax.main")
    return step, state["train"], task
  finally:
    ckpt.close()

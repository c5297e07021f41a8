"""A committee of trained runs: their outputs added, as boosted LeNet-4's members' are
(`lenet_jax.training.boost`; LeCun et al. 1998, section III.C.6), for any runs of one
dataset (`python -m lenet_jax.committee`)."""

import os

import jax
import jax.numpy as jnp
import numpy as np

from lenet_jax import data
from lenet_jax.common import files, preemption
from lenet_jax.common.errors import UserError
from lenet_jax.runs import validation
from lenet_jax.runs import load, run_record

COMBINES = ("probabilities", "logits")
CHUNK = 2000  # test images scored at a time


class Committee:
  """Trained members' outputs on uint8 images, one jit per member."""

  def __init__(self, configs, workdirs):
    self.members = []
    for config, workdir in zip(configs, workdirs):
      _, state, task = load.load_state(config, workdir)
      self.members.append((jax.jit(lambda v, x, t=task: t.logits(v, x)), task.variables(state)))

  def logits(self, images, which=None, stop=None) -> list[np.ndarray]:
    """Each chosen member's logits [N, classes], in chunks. `stop`: a
    `preemption.StopSignals`, checked before each chunk."""
    which = range(len(self.members)) if which is None else which
    out = []
    for k in which:
      fn, params = self.members[k]
      chunks = []
      for s in range(0, len(images), CHUNK):
        if stop is not None:
          stop.check_before(f"scoring test image {s:,} with member {k + 1}; no score was "
                            "written")
        chunks.append(np.asarray(fn(params, jnp.asarray(images[s:s + CHUNK]))))
      out.append(np.concatenate(chunks))
    return out


def combined(logits: list[np.ndarray], combine: str) -> np.ndarray:
  """The committee's scores: the members' softmax outputs or logits, added."""
  if combine == "logits":
    return sum(logits)
  return sum(np.asarray(jax.nn.softmax(jnp.asarray(z), axis=-1)) for z in logits)


def score(configs, workdirs, test_x, test_y, combine: str, stop=None) -> dict:
  """Each member's and the committee's test error on (test_x, test_y); `stop` as in
  `Committee.logits`."""
  committee = Committee(configs, workdirs)
  logits = committee.logits(test_x, stop=stop)
  errors = [float(np.mean(z.argmax(-1) != test_y)) for z in logits]
  together = combined(logits, combine)
  return {"test_images": int(len(test_y)), "combine": combine,
          "member_test_errors": errors,
          "committee_test_error": float(np.mean(together.argmax(-1) != test_y)),
          "members": list(workdirs)}


def score_runs(runs: list[str], combine: str, test_dir: str = "", out: str = "") -> dict:
  """Scores the runs in `runs` as a committee on the first run's test split (or the IDX
  directory `test_dir`); writes the result to `out` as JSON when given."""
  if len(runs) < 2:
    raise UserError(f"--runs names {len(runs)} run; a committee needs two or more")
  for run in runs:
    if not os.path.isfile(os.path.join(run, run_record.CONFIG)):
      raise UserError(f"--runs: {run} is not a lenet_jax run directory (no {run_record.CONFIG})")
  configs = [run_record.load_config(r) for r in runs]
  names = {c.data.name for c in configs}
  if len(names) > 1:
    raise UserError(f"the runs were trained on different datasets ({', '.join(sorted(names))})")
  test_config = configs[0].copy_and_resolve_references()
  if test_dir:
    with test_config.unlocked():
      test_config.data.test_dir = test_dir
  with preemption.StopSignals() as stop:  # a stop while loading ends at the first chunk
    resolved = validation.validate(test_config)
    test_x, test_y = data.load(test_config.data, resolved, ("test",)).split("test")
    result = score(configs, runs, test_x, test_y, combine, stop)
  if out:
    try:
      os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
      files.write_json(out, result, indent=1)
    except OSError as e:
      raise UserError(f"cannot write --out={out} ({e.strerror})") from None
  return result

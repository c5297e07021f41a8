"""Boosted LeNet-4: a committee of three nets trained on filtered patterns (LeCun et al.
1998, section III.C.6, after Drucker, Schapire and Simard 1993).

"The first one is trained the usual way. The second one is trained on patterns
that are filtered by the first net so that the second machine sees a mix of
patterns, 50% of which the first net got right, and 50% of which it got wrong.
Finally, the third net is trained on new patterns on which the first and the
second nets disagree. During testing, the outputs of the three nets are simply
added. Because the error rate of LeNet-4 is very low, it was necessary to use
the artificially distorted images (as with LeNet-5) in order to get enough
samples to train the second and third nets."

Here the patterns offered to the filters are random affine distortions of the
training digits (`boosting.patterns='distorted'`, the ranges of
`config.distortions`, drawn fresh for each filter) or the training digits
themselves (`'training'`, to see the shortage the paper describes). Each member
is an ordinary run in `WORKDIR/member_<k>`; the second's and third's training sets
are written there as IDX files (`filtered/`, with `filter.json`) and read like
any IDX directory. The committee adds the members' softmax outputs
(`boosting.combine='probabilities'`) or their logits (`'logits'`).
"""

import copy
import hashlib
import itertools
import os

import jax
import jax.numpy as jnp
import numpy as np
from absl import logging

from lenet_jax import data
from lenet_jax.common import files, preemption, random_streams
from lenet_jax.common.errors import ConfigError, UserError, check_choice, check_int
from lenet_jax.runs import validation
from lenet_jax.data import distortions, idx
from lenet_jax.runs import committee as committee_lib
from lenet_jax.common import lock
from lenet_jax.training import train

PATTERNS = ("distorted", "training")
MEMBERS = 3
FILTER = "filter.json"
COMMITTEE = "committee.json"
CHUNK = 2000  # candidate patterns made and classified at a time


def validate(config):
  """Raises ConfigError for an invalid `config.boosting` or a config boosting can't use;
  returns the config's validation (`lenet_jax.runs.validation.Resolved`)."""
  if "boosting" not in config:
    raise UserError("the config has no boosting section; use configs/lenet4_boosted.py or add "
                    "one like it")
  b = config.boosting
  check_choice("boosting.patterns", b.patterns, PATTERNS)
  check_choice("boosting.combine", b.combine, committee_lib.COMBINES)
  check_int("boosting.set_size", b.set_size, minimum=0,
            expected="must be an integer >= 1, or 0 for the training set's size")
  check_int("boosting.max_candidates", b.max_candidates, minimum=0,
            expected="must be an integer >= 1, or 0 for 100 x the set size")
  resolved = validation.validate(config)
  if resolved.digit_size:
    raise ConfigError("data.digit_size", resolved.digit_size, "would re-centre the "
                      "filtered, distorted patterns when they are read back; boost 28x28 digits")
  if resolved.spec.streamed or not resolved.spec.idx:
    raise ConfigError("data.name", resolved.spec.name, "boosting filters a resident IDX-style "
                      "dataset (mnist, fashion_mnist, kmnist)")
  if "distortions" not in config and b.patterns == "distorted":
    raise ConfigError("boosting.patterns", "distorted", "the config has no distortions section "
                      "to draw them with")
  return resolved


def member_dir(workdir: str, k: int) -> str:
  return os.path.join(workdir, f"member_{k}")


def member_config(config, filtered_dir: str | None):
  """Member k's config: the base config, reading its training set from `filtered_dir`
  (the test split stays where the base config takes it from)."""
  config = copy.deepcopy(config)
  if filtered_dir:
    with config.unlocked():
      config.data.source = "idx"
      config.data.dir = filtered_dir
      if not config.data.test_dir:
        config.data.test_dir = filtered_dir  # the base test split, copied there
  return config


def candidates(config, images, labels, stream: int):
  """Chunks (images uint8, labels) of patterns to filter: fresh random distortions of
  the training digits (stream `stream` of the run's seed), or the digits once."""
  if config.boosting.patterns == "training":
    for s in range(0, len(images), CHUNK):
      yield images[s:s + CHUNK], labels[s:s + CHUNK]
    return
  ranges = distortions.ranges_of(config.distortions)
  key = jax.random.fold_in(jax.random.key(config.seed + random_streams.BOOSTING), stream)

  @jax.jit
  def make(k, images, labels):
    pick, warp = jax.random.split(k)
    rows = jax.random.randint(pick, (CHUNK,), 0, images.shape[0])
    return distortions.distort_uint8(warp, images[rows], **ranges), labels[rows]

  on_device = jnp.asarray(images), jnp.asarray(labels)  # placed once, not baked into `make`
  for draw in itertools.count():
    made, made_labels = make(jax.random.fold_in(key, draw), *on_device)
    yield np.asarray(made), np.asarray(made_labels)


def filter_patterns(config, committee, images, labels, member: int, set_size: int,
                    stop=None):
  """(images, labels, stats) of member `member`'s training set: for member 2, half
  patterns member 1 gets right and half it gets wrong; for member 3, patterns on which
  members 1 and 2 disagree. `stop`: a `preemption.StopSignals`, checked per chunk."""
  limit = config.boosting.max_candidates or 100 * set_size
  keep_x, keep_y, keep_ok = [], [], []  # keep_ok: member 1 right on each kept pattern
  seen = kept = right = wrong = 0
  half = set_size // 2
  for x, y in candidates(config, images, labels, stream=member):
    if stop is not None:
      stop.check_before(f"the next chunk of member {member}'s patterns ({seen:,} filtered); none "
                        "was written, the trained members are kept; run the same command "
                        "again to go on")
    take = min(len(x), limit - seen)
    x, y = x[:take], y[:take]
    seen += take
    if member == 2:
      (z1,) = committee.logits(x, [0])
      ok = z1.argmax(-1) == y
      chosen = np.zeros(len(x), bool)
      chosen[np.flatnonzero(ok)[:max(0, half - right)]] = True
      chosen[np.flatnonzero(~ok)[:max(0, set_size - half - wrong)]] = True
      right += int((chosen & ok).sum())
      wrong += int((chosen & ~ok).sum())
      keep_ok.append(ok[chosen])
      done = right >= half and wrong >= set_size - half
    else:
      z1, z2 = committee.logits(x, [0, 1])
      chosen = z1.argmax(-1) != z2.argmax(-1)
      chosen &= np.cumsum(chosen) <= set_size - kept
    kept += int(chosen.sum())
    if member == 3:
      done = kept >= set_size
    keep_x.append(x[chosen])
    keep_y.append(y[chosen])
    if done or seen >= limit:
      break
  x, y = np.concatenate(keep_x), np.concatenate(keep_y)
  if member == 2 and right != wrong:  # a shortfall on one side: keep the mix at 50/50
    ok, each = np.concatenate(keep_ok), min(right, wrong)
    keep = np.sort(np.concatenate([np.flatnonzero(ok)[:each], np.flatnonzero(~ok)[:each]]))
    x, y = x[keep], y[keep]
    right = wrong = each
  stats = {"member": member, "candidates": seen, "size": int(len(y)), "target": set_size,
           "patterns": config.boosting.patterns}
  if member == 2:
    stats.update(right=right, wrong=wrong)
  return x, y, stats


def write_set(directory: str, images, labels, test, stats: dict) -> None:
  """The filtered training set (and, when the base config has no test_dir, its test
  split) as IDX files, `filter.json` last: a set is complete when that file exists."""
  os.makedirs(directory, exist_ok=True)
  splits = {"train": (images, labels)}
  if test is not None:
    splits["test"] = test
  digest = hashlib.sha256()
  for split, (x, y) in splits.items():
    for stem, array in zip(idx.FILES[split], (x[..., 0], y)):
      idx.write(os.path.join(directory, stem), array)
      digest.update(np.ascontiguousarray(array).tobytes())
  files.write_json(os.path.join(directory, FILTER), {**stats, "sha256": digest.hexdigest()},
                   indent=1)


def read_stats(directory: str) -> dict | None:
  return files.read_json(os.path.join(directory, FILTER))


def boost(config, workdir: str, say=print) -> dict:
  """Trains the three members in `workdir` (resuming any that stopped) and scores the
  committee on the test split; writes `committee.json` and returns it."""
  resolved = validate(config)
  with lock.hold(workdir, "lenet_jax.boost"), preemption.StopSignals() as stop:
    return _boost(config, resolved, workdir, say, stop)


def _boost(config, resolved, workdir, say, stop) -> dict:
  dataset = stop.wait_for(lambda: data.load(config.data, resolved),
                          "while the data was loaded; the members trained before are kept")
  images, labels = dataset.split("train")
  test_x, test_y = dataset.split("test")
  set_size = config.boosting.set_size or len(labels)
  configs, workdirs, filters = [], [], []
  for k in range(1, MEMBERS + 1):
    directory = member_dir(workdir, k)
    filtered = os.path.join(directory, "filtered") if k > 1 else None
    if filtered:
      stats = read_stats(filtered)
      if stats is None:
        committee = committee_lib.Committee(configs, workdirs)
        say(f"member {k}: filtering patterns through member{'s 1 and 2' if k == 3 else ' 1'}")
        x, y, stats = filter_patterns(config, committee, images, labels, k, set_size, stop)
        if len(y) < config.batch_size:
          raise UserError(f"member {k}: only {len(y)} patterns passed the filter in "
                          f"{stats['candidates']:,} candidates; raise boosting.max_candidates "
                          "or use boosting.patterns='distorted'")
        own_test = None if config.data.test_dir else (test_x, test_y)
        write_set(filtered, x, y, own_test, stats)
      say(f"member {k}: {stats['size']:,} patterns from {stats['candidates']:,} candidates"
          + (f" ({stats['right']:,} member 1 got right, {stats['wrong']:,} wrong)"
             if k == 2 else " (members 1 and 2 disagree)"))
      filters.append(stats)
    member = member_config(config, filtered)
    stop.check_before(f"member {k}'s training; the members before it are kept; run the "
                      "same command again to go on")
    say(f"member {k}: training in {directory}")
    train.train_and_evaluate(member, directory)
    configs.append(member)
    workdirs.append(directory)
  result = committee_lib.score(configs, workdirs, test_x, test_y, config.boosting.combine, stop)
  result["filters"] = filters
  files.write_json(os.path.join(workdir, COMMITTEE), result, indent=1)
  logging.info("committee: %s", result)
  return result

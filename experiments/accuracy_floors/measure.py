"""Where the accuracy floors of the training tests sit: each test's run as the test makes
it, and again with each bug the test is there to catch, one JSON line per run.

  python experiments/accuracy_floors/measure.py | grep "^{" > experiments/accuracy_floors/results.jsonl

A floor is set between the lowest correct accuracy and the highest broken one (the
tests: tests/optim/test_sdlm.py, tests/data/test_distortions.py,
tests/models/test_early_lenets.py). Each bug is put in by patching the library for one
run, so the code the tests run is the code measured here.
"""

import contextlib
import json
import os
import platform
import sys
import tempfile
from unittest import mock

import jax
import jax.numpy as jnp

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path[:0] = [ROOT, os.path.join(ROOT, "tests")]

from conftest import tiny_config  # noqa: E402  (the tests' own tiny config)
from lenet_jax.data import distortions  # noqa: E402
from lenet_jax.models import activations, lenet5, matmul_ops  # noqa: E402
from lenet_jax.optim import sdlm  # noqa: E402
from lenet_jax.runs import metrics  # noqa: E402
from lenet_jax.training import train  # noqa: E402


def _sdlm_config():  # test_paper_curvature_trains_the_1998_network
  from configs import lenet5_1998
  config = lenet5_1998.get_config("runlocal,curvature=paper")
  config.data.source = "embedded"
  config.num_epochs = 1
  return config


def _distortion_config():  # test_training_with_distortions_runs
  return tiny_config(**{"distortions.enabled": True})


def _early_config(name):  # test_real_training_function_learns_each
  from configs import lenet1, lenet4
  config = {"lenet1": lenet1, "lenet4": lenet4}[name].get_config()
  tiny = tiny_config()
  config.update(num_epochs=1, batch_size=50, eval_batch_size=250, schedule="constant")
  config.data.source = tiny.data.source
  return config


def _scaled_curvature(factor):
  original = sdlm.paper_diagonal
  return mock.patch.object(sdlm, "paper_diagonal", lambda *a, **k: jax.tree.map(
      lambda h: h * factor, original(*a, **k)))


def _distort_then(change):
  original = distortions.distort
  return mock.patch.object(distortions, "distort", lambda *a, **k: change(original, *a, **k))


def _translate_x10(original, key, images, translate=0.0, **ranges):
  return original(key, images, translate=10 * translate, **ranges)


def _rolled(original, *a, **k):  # images moved one place along the batch: wrong labels
  return jnp.roll(original(*a, **k), 1, axis=0)


def _features_with(stage_name, change):
  def features(self, x):  # StagedNet.features with one stage's outputs changed
    stages = self.stages()[:-1]
    if self.fused_c1_s2:
      conv = self.c1.conv
      x = self.s2.activation(matmul_ops.conv_max_pool(x, conv.kernel[...], conv.bias[...]))
      x = change(x) if stage_name == "S2" else x
      stages = stages[2:]
    for name, stage in stages:
      x = stage(x)
      x = change(x) if name == stage_name else x
    return x
  return mock.patch.object(lenet5.StagedNet, "features", features)


def _no_activation():
  return mock.patch.dict(activations.ACTIVATIONS, relu=lambda x: x)


CASES = {
    "sdlm_paper_curvature": (_sdlm_config, {
        "correct": contextlib.nullcontext,
        "curvature x 0 (every step eta / mu)": lambda: _scaled_curvature(0.0),
        "curvature x 1000": lambda: _scaled_curvature(1000.0),
        "curvature x 1e6": lambda: _scaled_curvature(1e6)}),
    "distortions": (_distortion_config, {
        "correct": contextlib.nullcontext,
        "translation in 10x its range": lambda: _distort_then(_translate_x10),
        "distorted images one place off their labels": lambda: _distort_then(_rolled)}),
}
for _name in ("lenet1", "lenet4"):
  CASES[_name] = (lambda n=_name: _early_config(n), {
      "correct": contextlib.nullcontext,
      "C3's outputs zeroed": lambda: _features_with("C3", jnp.zeros_like),
      "S2's outputs zeroed": lambda: _features_with("S2", jnp.zeros_like),
      "relu replaced by the identity (a linear network)": _no_activation})


def main():
  only = sys.argv[1:]
  for case, (make_config, variants) in CASES.items():
    if only and case not in only:
      continue
    for variant, patch in variants.items():
      with tempfile.TemporaryDirectory() as workdir, patch():
        config = make_config()
        train.train_and_evaluate(config, workdir)
        accuracy = metrics.read(workdir)[-1]["test_accuracy"]
      print(json.dumps({"test": case, "variant": variant, "test_accuracy": round(accuracy, 4),
                        "jax": jax.__version__, "machine": platform.processor() or
                        platform.machine()}), flush=True)


if __name__ == "__main__":
  main()

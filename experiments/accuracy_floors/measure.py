"""Where the accuracy floors of the training tests sit: each test's run as the test makes
it, and again with each bug the test is there to catch, one JSON line per run.

  python experiments/accuracy_floors/measure.py | grep "^{" > experiments/accuracy_floors/results.jsonl
  python experiments/accuracy_floors/measure.py lenet5_two_epochs cli  # some cases only

A floor is set between the lowest correct accuracy and the highest broken one (the
tests: tests/optim/test_sdlm.py, tests/data/test_distortions.py,
tests/models/test_early_lenets.py, tests/training/test_train.py,
tests/common/test_cli.py). Each bug is put in by patching the library for one run, so
the code the tests run is the code measured here. A run the bug stops (a diverged loss)
is recorded with its error instead of an accuracy: the test fails on it either way.
"""

import contextlib
import functools
import json
import os
import platform
import sys
import tempfile
from unittest import mock

import jax
import jax.numpy as jnp
import numpy as np
import optax

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path[:0] = [ROOT, os.path.join(ROOT, "tests")]

import conftest  # noqa: E402  (the tests' own settings, tiny config and MNIST test directory)
from lenet_jax.data import distortions, embedded, idx, preprocess  # noqa: E402
from lenet_jax.models import activations, lenet5, matmul_ops  # noqa: E402
from lenet_jax.models import task as task_lib  # noqa: E402
from lenet_jax.optim import optimizers, sdlm  # noqa: E402
from lenet_jax.runs import evaluate, metrics, run_record  # noqa: E402
from lenet_jax.training import train  # noqa: E402

tiny_config = conftest.tiny_config


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


def _two_epoch_config():  # test_one_epoch_on_embedded_digits_learns
  return tiny_config(num_epochs=2)


def _runlocal_1998_config():  # test_1998_network_trains
  from configs import lenet5_1998
  config = lenet5_1998.get_config("runlocal")
  config.data.source = "embedded"
  return config


def _cli_config():  # test_train_then_evaluate_on_official_test_split's lenet_jax.main
  from configs import lenet5  # --config=configs/lenet5.py --config.num_epochs=1
  config = lenet5.get_config()  # --config.batch_size=100; data.source 'auto'
  config.num_epochs = 1
  config.batch_size = 100
  return config


@functools.cache
def _embedded_test_dir():
  """The embedded digits' 1,000-image test split as IDX files: the test's MNIST directory
  where no official split lies beside the checkout (tests/conftest.py)."""
  images, labels = embedded.load(("test",))["test"]
  directory = tempfile.mkdtemp(prefix="accuracy_floors_mnist_test_")
  idx.write(os.path.join(directory, "t10k-images-idx3-ubyte.gz"), images[..., 0])
  idx.write(os.path.join(directory, "t10k-labels-idx1-ubyte.gz"), labels.astype("uint8"))
  return directory


def _last_test_accuracy(name):
  def score(workdir):
    return {name: metrics.read(workdir)[-1]["test_accuracy"]}
  return score


def _cli_scores(workdir):
  """`python -m lenet_jax.evaluate --workdir=RUN --config.data.source=idx
  --config.data.dir=DIR` on each MNIST test directory the CLI test may be given."""
  directories = {"cli_embedded_idx": _embedded_test_dir()}
  if conftest.MNIST_TEST_SIZE == 10000:
    directories["cli_official"] = conftest.MNIST_TEST_DIR
  scores = {}
  for name, directory in directories.items():
    config = run_record.load_config(workdir)
    config.data.source = "idx"
    config.data.dir = directory
    scores[name] = evaluate.evaluate_run(config, workdir)["test_accuracy"]
  return scores


# --- the bugs, each a patch of the library for one run ---

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


def _shuffled_training_labels():
  original = embedded.load

  def load(splits):  # the training labels permuted, so no longer their images'
    arrays = original(splits)
    if "train" in arrays:
      images, labels = arrays["train"]
      arrays["train"] = (images, np.random.default_rng(0).permutation(labels))
    return arrays
  return mock.patch.object(embedded, "load", load)


def _zero_learning_rate():
  return mock.patch.object(optimizers, "schedule",
                           lambda config, steps_per_epoch: optax.constant_schedule(0.0))


def _gradient_ascent():
  original = task_lib.Task.loss_and_grads

  def loss_and_grads(self, *a, **k):
    loss, correct, grads, model_state = original(self, *a, **k)
    return loss, correct, jax.tree.map(jnp.negative, grads), model_state
  return mock.patch.object(task_lib.Task, "loss_and_grads", loss_and_grads)


def _pixels_not_scaled():
  original = preprocess.prepare  # the division by 255 lost: inputs on the 0-255 scale
  return mock.patch.object(preprocess, "prepare", lambda images, *a, **k: original(
      images.astype(jnp.float32) * 255.0, *a, **k))


def _transposed_test_images():
  original = idx.load_split

  def load_split(directory, split):
    images, labels = original(directory, split)
    return (images.transpose(0, 2, 1, 3) if split == "test" else images), labels
  return mock.patch.object(idx, "load_split", load_split)


TRAINING_BUGS = {  # bugs that any trained network's floor ought to catch
    "training labels shuffled against their images": _shuffled_training_labels,
    "C3's outputs zeroed": lambda: _features_with("C3", jnp.zeros_like),
    "learning rate 0": _zero_learning_rate,
    "gradients of the wrong sign (ascent)": _gradient_ascent,
    "pixels not divided by 255 (train and test)": _pixels_not_scaled,
}

# name -> (config, score, variants); `score(workdir)` gives {row name: accuracy}; a
# variant is a patch, or (a patch, config.seed)
CASES = {
    "sdlm_paper_curvature": (_sdlm_config, _last_test_accuracy("sdlm_paper_curvature"), {
        "correct": contextlib.nullcontext,
        "curvature x 0 (every step eta / mu)": lambda: _scaled_curvature(0.0),
        "curvature x 1000": lambda: _scaled_curvature(1000.0),
        "curvature x 1e6": lambda: _scaled_curvature(1e6)}),
    "distortions": (_distortion_config, _last_test_accuracy("distortions"), {
        "correct": contextlib.nullcontext,
        "translation in 10x its range": lambda: _distort_then(_translate_x10),
        "distorted images one place off their labels": lambda: _distort_then(_rolled)}),
}
for _name in ("lenet1", "lenet4"):
  CASES[_name] = (lambda n=_name: _early_config(n), _last_test_accuracy(_name), {
      "correct": contextlib.nullcontext,
      "C3's outputs zeroed": lambda: _features_with("C3", jnp.zeros_like),
      "S2's outputs zeroed": lambda: _features_with("S2", jnp.zeros_like),
      "relu replaced by the identity (a linear network)": _no_activation})


def _other_seeds(variants, seeds=(1, 2)):
  """`variants` again with config.seed 1 and 2 (the tests use 0): how far a floor sits
  from runs it was not read from."""
  return {f"{name}, seed {seed}": (patch, seed) for name, patch in variants.items()
          for seed in seeds}


_CORRECT = {"correct": contextlib.nullcontext}
CASES["lenet5_two_epochs"] = (
    _two_epoch_config, _last_test_accuracy("lenet5_two_epochs"),
    {**_CORRECT, **TRAINING_BUGS, **_other_seeds(
        {**_CORRECT, "pixels not divided by 255 (train and test)": _pixels_not_scaled})})
CASES["lenet5_1998_runlocal"] = (
    _runlocal_1998_config, _last_test_accuracy("lenet5_1998_runlocal"),
    {**_CORRECT, **TRAINING_BUGS, **_other_seeds(_CORRECT)})
CASES["cli"] = (_cli_config, _cli_scores, {
    **_CORRECT, **TRAINING_BUGS, "IDX test images read transposed": _transposed_test_images,
    **_other_seeds(_CORRECT)})


def main():
  only = sys.argv[1:]
  for case, (make_config, score, variants) in CASES.items():
    if only and case not in only:
      continue
    for variant, patch in variants.items():
      patch, seed = patch if isinstance(patch, tuple) else (patch, None)
      with tempfile.TemporaryDirectory() as workdir, patch():
        config = make_config()
        config.seed = config.seed if seed is None else seed
        try:
          train.train_and_evaluate(config, workdir)
          results = {name: {"test_accuracy": round(accuracy, 4)}
                     for name, accuracy in score(workdir).items()}
        except train.DivergenceError as e:  # a bug that stops the run fails its test
          error = f"{type(e).__name__}: {str(e).splitlines()[0][:160]}"
          results = {case: {"test_accuracy": None, "error": error}}
      for name, result in results.items():
        print(json.dumps({"test": name, "variant": variant, **result, "jax": jax.__version__,
                          "machine": platform.processor() or platform.machine()}), flush=True)


if __name__ == "__main__":
  main()

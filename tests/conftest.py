"""Test set-up: CPU only, no network probes, strict rank promotion, fake devices, one
compilation cache for the whole run, and the helpers the tests share (a tiny config, a
trained run, running a command the way a user does)."""

import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)  # for `configs`

os.environ.setdefault("LENET_JAX_OFFLINE", "1")
os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "")
                           + " --xla_force_host_platform_device_count=4").strip()
# One persistent compilation cache for the run, shared by the xdist workers and every
# command a test starts: a program compiled once (the tiny LeNet-5's step, a model's
# initialisers) is read back by every other process. Commands inherit it through the
# environment. Set LENET_JAX_TEST_CACHE to keep one across runs.
# (xdist's workers are children of the controlling pytest process, which names the cache.)
_RUN = os.getppid() if os.environ.get("PYTEST_XDIST_WORKER") else os.getpid()
_OWN_CACHE = "JAX_COMPILATION_CACHE_DIR" not in os.environ and not os.environ.get(
    "LENET_JAX_TEST_CACHE")
if "JAX_COMPILATION_CACHE_DIR" not in os.environ:
  os.environ["JAX_COMPILATION_CACHE_DIR"] = os.environ.get("LENET_JAX_TEST_CACHE") or os.path.join(
      tempfile.gettempdir(), f"lenet_jax_test_cache_{_RUN}")
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES", "0")

import jax  # noqa: E402
import pytest  # noqa: E402

jax.config.update("jax_numpy_rank_promotion", "raise")


def _mnist_test_dir():
  """(directory, images) of a test-only MNIST IDX directory: the official 10,000-image
  split beside the checkout where there is one, else the embedded digits' 1,000-image
  test split written as IDX files, so the suite needs nothing outside the repository."""
  official = os.path.join(ROOT, "..", "shared", "data", "mnist_test")
  if os.path.isfile(os.path.join(official, "t10k-images-idx3-ubyte.gz")):
    return official, 10000
  from lenet_jax.data import embedded, idx
  images, labels = embedded.load(("test",))["test"]
  directory = tempfile.mkdtemp(prefix="lenet_jax_mnist_test_")
  idx.write(os.path.join(directory, "t10k-images-idx3-ubyte.gz"), images[..., 0])
  idx.write(os.path.join(directory, "t10k-labels-idx1-ubyte.gz"), labels.astype("uint8"))
  return directory, len(labels)


MNIST_TEST_DIR, MNIST_TEST_SIZE = _mnist_test_dir()


def tiny_config(**overrides):
  """configs/lenet5.py shrunk to seconds: embedded digits, one epoch, small batches."""
  from configs import lenet5
  config = lenet5.get_config()
  config.num_epochs = 1
  config.batch_size = 50
  config.eval_batch_size = 250
  config.data.source = "embedded"
  config.schedule = "constant"
  return override(config, **overrides)


def override(config, **overrides):
  """`config` with dotted keys set, as a sweep cell sets them: override(config,
  **{"data.name": "synthetic"})."""
  from lenet_jax.sweeps import cells
  return cells.apply(config, overrides, where="test")


def command_env(**extra) -> dict:
  return dict(os.environ, LENET_JAX_OFFLINE="1", JAX_PLATFORMS="cpu", PYTHONUNBUFFERED="1",
              **extra)


def run_command(module, *args, env=None, timeout=600, cwd=ROOT):
  """`python -m <module> args...` as a user runs it, from the repository root: the
  finished process (returncode, stdout, stderr as text)."""
  return subprocess.run([sys.executable, "-m", module, *args], cwd=cwd,
                        env=env or command_env(), capture_output=True, text=True,
                        timeout=timeout, stdin=subprocess.DEVNULL)


def start_command(module, *args, env=None, cwd=ROOT):
  """`python -m <module> args...` started in the background (for stop signals and
  workers side by side): a Popen with stdout and stderr as text pipes."""
  return subprocess.Popen([sys.executable, "-m", module, *args], cwd=cwd,
                          env=env or command_env(), stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)


def assert_one_line_error(proc, *fragments):
  """The command failed with exactly one `error:` line holding every fragment, and no
  traceback."""
  assert proc.returncode != 0, proc.stdout
  assert "Traceback" not in proc.stderr, proc.stderr
  errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
  assert len(errors) == 1, proc.stderr
  for fragment in fragments:
    assert fragment in errors[0], errors[0]
  return errors[0]


def assert_same_values_and_gradients(model, reference, x, rtol=1e-4):
  """`model` and `reference` (NNX modules with the same parameter tree) give the same
  outputs on `x`, and the same gradients of sum(output^2), up to summation order."""
  import jax.numpy as jnp
  import numpy as np
  from flax import nnx

  def grads(m):
    return nnx.grad(lambda m: jnp.sum(m(x) ** 2))(m)

  np.testing.assert_allclose(model(x), reference(x), rtol=1e-5, atol=1e-6)
  for a, b in zip(jax.tree.leaves(grads(model)), jax.tree.leaves(grads(reference))):
    scale = float(jnp.max(jnp.abs(b)))  # summation order differs: rounding only
    np.testing.assert_allclose(a, b, rtol=rtol, atol=1e-5 * scale)


@pytest.fixture
def tiny():
  return tiny_config


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory):
  """A finished run of `tiny_config()` (one epoch on the embedded digits), shared by the
  tests that only read a run: evaluate, predict, figures, the commands' errors. Tests
  must not write into it."""
  from lenet_jax.training import train
  workdir = str(tmp_path_factory.mktemp("trained_run") / "run")
  train.train_and_evaluate(tiny_config(), workdir)
  return workdir


def pytest_sessionfinish(session, exitstatus):
  """The run's compilation cache goes with the run (the controller's finish comes last)."""
  del exitstatus
  if hasattr(session.config, "workerinput") or not _OWN_CACHE:
    return
  import shutil
  shutil.rmtree(os.environ["JAX_COMPILATION_CACHE_DIR"], ignore_errors=True)

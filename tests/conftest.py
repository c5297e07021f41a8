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
# Most tests compile far more than they run: XLA's cheap settings (LLVM at -O0, no
# expensive passes; jax_disable_most_optimizations; and XLA CPU's older fusion emitters,
# tests/cheap_xla.py) cut in-process compilation by 44%, then by more
# (experiments/test_suite). Tests marked `full_xla` (most full-size AlexNet tests; runs
# that train for longer; programs for different device counts compared at rounding
# tolerance), compile what they compile with the defaults, and so do the commands they
# start (a program compiled earlier in the process is reused as it is). Set
# JAX_DISABLE_MOST_OPTIMIZATIONS=0 to run everything as users do.
os.environ.setdefault("JAX_DISABLE_MOST_OPTIMIZATIONS", "1")

import cheap_xla  # noqa: E402
import jax  # noqa: E402
import pytest  # noqa: E402

jax.config.update("jax_numpy_rank_promotion", "raise")
_CHEAP_XLA = jax.config.values["jax_disable_most_optimizations"]
if not os.environ.get("LENET_JAX_TEST_NO_CHEAP_EMITTERS"):  # set: to measure what they save
  cheap_xla.install()  # with it, XLA CPU's faster-compiling fusion emitters: see there


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
  """Before the test's fixtures: XLA's full optimisation for `full_xla` tests and the
  commands they start, the cheap settings for the rest (see above)."""
  cheap = _CHEAP_XLA and item.get_closest_marker("full_xla") is None
  jax.config.update("jax_disable_most_optimizations", cheap)
  os.environ["JAX_DISABLE_MOST_OPTIMIZATIONS"] = "1" if cheap else "0"


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


# AlexNet at 67x67 (conv5 gives 1x1x256 maps) with 256 FC units: the same layers and
# towers as the full-size network, small enough for XLA's cheap settings.
SMALL_ALEXNET = dict(input_shape=(67, 67, 3), num_classes=10, fc_units=256)


# A small synthetic set (200 training, 100 test images) for tests that need a run or a
# sweep to exist more than they need it to learn: tiny_config(**SMALL_SYNTHETIC).
SMALL_SYNTHETIC = {"data.name": "synthetic", "data.source": "synthetic",
                   "data.synthetic_train_size": 200, "data.synthetic_test_size": 100}


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


def command_env(base=None, **extra) -> dict:
  """The environment a command runs in: `base` (os.environ) with the suite's settings."""
  return dict(os.environ if base is None else base, LENET_JAX_OFFLINE="1",
              JAX_PLATFORMS="cpu", PYTHONUNBUFFERED="1", **extra)


_SUITE_ENVIRON = dict(os.environ)  # as set up above, before any test changes it


def _zygote_env() -> dict:
  return command_env(_SUITE_ENVIRON)


def run_command(module, *args, env=None, timeout=600, cwd=ROOT, **popen):
  """`python -m <module> args...` as a user runs it, from the repository root: the
  finished process (returncode, stdout, stderr as text). `popen`: more of
  subprocess.run's arguments (a preexec_fn that limits the process)."""
  proc = start_command(module, *args, env=env, cwd=cwd, **popen)
  try:
    out, err = proc.communicate(timeout=timeout)
  except subprocess.TimeoutExpired:
    proc.kill()
    proc.communicate()
    raise
  return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def start_command(module, *args, env=None, cwd=ROOT, merge_stderr=False, **popen):
  """`python -m <module> args...` started in the background (for stop signals and
  workers side by side): a Popen (or its like) with stdout and stderr as text pipes
  (`merge_stderr`: stderr into stdout, so that log lines and prints come in order).

  Commands are forked from a process that has imported lenet_jax once
  (tests/command_zygote.py), which saves each one its imports; one whose environment
  differs in what is read at import (JAX_*, PYTHON*), or that asks for more of Popen,
  is started as a new interpreter."""
  env = env or command_env()
  if not popen and _zygote_fits(env):
    return _zygote().start(module, list(args), env, str(cwd), merge_stderr)
  return subprocess.Popen([sys.executable, "-m", module, *args], cwd=cwd, env=env,
                          stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT if merge_stderr else subprocess.PIPE,
                          text=True, stdin=subprocess.DEVNULL, **popen)


_IMPORT_TIME = ("JAX_", "PYTHON", "TF_", "LD_")


def _zygote_fits(env) -> bool:
  """Whether a command with `env` may be forked from the zygote: what is read at import
  is what the zygote read (it starts with the suite's environment)."""
  if os.environ.get("LENET_JAX_TEST_NO_ZYGOTE"):
    return False
  base = _zygote_env()
  keys = {k for k in set(env) | set(base)
          if k.startswith(_IMPORT_TIME) and k != "JAX_DISABLE_MOST_OPTIMIZATIONS"}  # per child
  return all(env.get(k) == base.get(k) for k in keys)


class _Forked:
  """A command forked by the zygote, with what the tests use of Popen: pid, stdout,
  stderr, returncode, poll, wait, communicate, send_signal, kill."""

  def __init__(self, server, pid, args, stdout, stderr):
    self.server, self.pid, self.args = server, pid, args
    self.stdout, self.stderr = stdout, stderr
    self.returncode = None

  def poll(self):
    if self.returncode is None:
      self.returncode = self.server.returncode(self.pid, block=False)
    return self.returncode

  def wait(self, timeout=None):
    import time
    deadline = None if timeout is None else time.monotonic() + timeout
    while self.poll() is None:
      if deadline is not None and time.monotonic() > deadline:
        raise subprocess.TimeoutExpired(self.args, timeout)
      self.server.returncode(self.pid, block=True, timeout=0.1)
    return self.returncode

  def communicate(self, timeout=None):
    import threading
    import time
    start = time.monotonic()
    out = {}

    def read(name, stream):
      out[name] = stream.read() if stream is not None and not stream.closed else ""

    readers = [threading.Thread(target=read, args=(n, s), daemon=True)
               for n, s in (("out", self.stdout), ("err", self.stderr))]
    for reader in readers:
      reader.start()
    for reader in readers:
      reader.join(None if timeout is None else max(0.0, timeout - (time.monotonic() - start)))
      if reader.is_alive():
        raise subprocess.TimeoutExpired(self.args, timeout)
    self.wait(None if timeout is None else max(1.0, timeout - (time.monotonic() - start)))
    for stream in (self.stdout, self.stderr):
      if stream is not None:
        stream.close()
    return out["out"], out["err"] if self.stderr is not None else None

  def send_signal(self, signum):
    if self.poll() is None:
      os.kill(self.pid, signum)

  def kill(self):
    import signal
    self.send_signal(signal.SIGKILL)


class _Zygote:
  """The client of tests/command_zygote.py: one per test process, started at first use."""

  def __init__(self):
    import socket
    self.path = os.path.join(tempfile.mkdtemp(prefix="lenet_jax_zygote_"), "socket")
    self.process = subprocess.Popen(
        [sys.executable, os.path.join(ROOT, "tests", "command_zygote.py"), self.path],
        env=_zygote_env(), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, text=True)
    assert self.process.stdout.readline().strip() == "ready"
    self.conn = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    self.conn.connect(self.path)
    self.exits = {}
    import atexit
    atexit.register(self.close)

  def _receive(self, timeout=None):
    import json
    import select
    ready, _, _ = select.select([self.conn], [], [], timeout)
    if not ready:
      return None
    message = json.loads(self.conn.recv(1 << 16))
    if "exit" in message:
      self.exits[message["exit"]] = message["returncode"]
    return message

  def start(self, module, args, env, cwd, merge_stderr=False):
    import json
    import socket
    pipes = [os.pipe()] if merge_stderr else [os.pipe(), os.pipe()]
    writers = [pipes[0][1], pipes[-1][1]]
    devnull = os.open(os.devnull, os.O_RDONLY)
    socket.send_fds(self.conn, [json.dumps({"module": module, "args": args, "env": env,
                                            "cwd": cwd}).encode()], [devnull, *writers])
    for fd in {devnull, *writers}:
      os.close(fd)
    while True:
      message = self._receive()
      if "pid" in message:
        break
    stdout = os.fdopen(pipes[0][0], "r")
    stderr = None if merge_stderr else os.fdopen(pipes[1][0], "r")
    return _Forked(self, message["pid"], [sys.executable, "-m", module, *args], stdout, stderr)

  def returncode(self, pid, block, timeout=None):
    while pid not in self.exits:
      if self._receive(timeout if block else 0) is None:
        break
    return self.exits.get(pid)

  def close(self):
    try:
      self.conn.close()
      self.process.wait(timeout=10)
    except Exception:  # the tests are over either way
      self.process.kill()


_ZYGOTE = []


def _zygote() -> _Zygote:
  if not _ZYGOTE:
    _ZYGOTE.append(_Zygote())
  return _ZYGOTE[0]


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


def assert_bitwise_equal(actual, desired, err_msg=""):
  """np.testing.assert_array_equal, with a fast path for the equal case: numpy's
  comparison builds NaN and infinity masks of both arrays first, seconds over AlexNet's
  61M parameters; its report is made only when they differ (or differ in shape)."""
  import numpy as np
  actual, desired = np.asarray(actual), np.asarray(desired)
  if not (actual.shape == desired.shape and actual.dtype == desired.dtype
          and np.array_equal(actual, desired, equal_nan=actual.dtype.kind in "fc")):
    np.testing.assert_array_equal(actual, desired, err_msg=err_msg)


def assert_same_values_and_gradients(model, reference, x, rtol=1e-4):
  """`model` and `reference` (NNX modules with the same parameter tree) give the same
  outputs on `x`, and the same gradients of sum(output^2), up to summation order (each
  compiled as one program: op by op, a network's backward pass is hundreds of compiles)."""
  import jax.numpy as jnp
  import numpy as np
  from flax import nnx

  def outputs_and_grads(m):
    graphdef, params, rest = nnx.split(m, nnx.Param, ...)

    def loss(p):
      y = nnx.merge(graphdef, p, rest)(x)
      return jnp.sum(y ** 2), y

    (_, y), grads = jax.jit(jax.value_and_grad(loss, has_aux=True))(params)
    return y, jax.tree.leaves(grads)

  (y, grads), (y_ref, grads_ref) = outputs_and_grads(model), outputs_and_grads(reference)
  np.testing.assert_allclose(y, y_ref, rtol=1e-5, atol=1e-6)
  assert len(grads) == len(grads_ref)
  for a, b in zip(grads, grads_ref):
    scale = float(jnp.max(jnp.abs(b)))  # summation order differs: rounding only
    np.testing.assert_allclose(a, b, rtol=rtol, atol=1e-5 * scale)


def jitted(model):
  """x -> model(x, **kwargs), compiled as one program (op by op, each of a network's
  operations is compiled apart)."""
  from flax import nnx
  graphdef, state = nnx.split(model)
  call = jax.jit(lambda state, x, arrays, flags: nnx.merge(graphdef, state)(
      x, **arrays, **dict(flags)), static_argnums=3)

  def run(x, **kwargs):  # Python values (train=True) are static, arrays (keys) traced
    flags = tuple(sorted((k, v) for k, v in kwargs.items() if isinstance(v, (bool, int, str))))
    return call(state, x, {k: v for k, v in kwargs.items() if k not in dict(flags)}, flags)
  return run


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


@pytest.fixture
def finished_run(trained_run, tmp_path):
  """A copy of `trained_run` in the test's own directory (a pathlib.Path), to resume,
  change or damage: what a finished run of `tiny_config()` leaves, without training it
  again."""
  import shutil
  workdir = tmp_path / "finished_run"
  shutil.copytree(trained_run, workdir)
  return workdir


def pytest_sessionfinish(session, exitstatus):
  """The run's compilation cache goes with the run (the controller's finish comes last)."""
  del exitstatus
  if hasattr(session.config, "workerinput") or not _OWN_CACHE:
    return
  import shutil
  shutil.rmtree(os.environ["JAX_COMPILATION_CACHE_DIR"], ignore_errors=True)


def _arguments(config_module: str, arguments, input_shape, num_classes, arg=""):
  """A family's constructor arguments as its config file gives them: the defaults live in
  configs/ only."""
  import importlib

  from lenet_jax import models
  config = importlib.import_module(f"configs.{config_module}").get_config(arg)
  knobs = models.validate(config.model, num_classes)
  return arguments(config.model, knobs, input_shape, num_classes)


def alexnet_model(*, rngs=None, input_shape=(227, 227, 3), num_classes=1000, **overrides):
  """AlexNet as configs/alexnet.py builds it, with constructor arguments `overrides`."""
  from flax import nnx

  from lenet_jax.models import alexnet
  args = _arguments("alexnet", alexnet.arguments, input_shape, num_classes, "data=synthetic")
  return alexnet.AlexNet(**{**args, **overrides}, rngs=rngs or nnx.Rngs(0))


def lenet5_model(*, rngs=None, input_shape=(32, 32, 1), num_classes=10, **overrides):
  """LeNet-5 as configs/lenet5.py builds it (the xla implementation), with `overrides`."""
  from flax import nnx

  from lenet_jax.models import lenet5
  args = dict(_arguments("lenet5", lenet5.arguments, input_shape, num_classes),
              implementation="xla")
  return lenet5.LeNet5(**{**args, **overrides}, rngs=rngs or nnx.Rngs(0))


def lenet1_model(*, rngs=None, input_shape=(28, 28, 1), num_classes=10, **overrides):
  from flax import nnx

  from lenet_jax.models import early_lenets
  args = dict(_arguments("lenet1", early_lenets.lenet1_arguments, input_shape, num_classes),
              implementation="xla")
  return early_lenets.LeNet1(**{**args, **overrides}, rngs=rngs or nnx.Rngs(0))


def lenet4_model(*, rngs=None, input_shape=(32, 32, 1), num_classes=10, **overrides):
  from flax import nnx

  from lenet_jax.models import early_lenets
  args = dict(_arguments("lenet4", early_lenets.lenet4_arguments, input_shape, num_classes),
              implementation="xla")
  return early_lenets.LeNet4(**{**args, **overrides}, rngs=rngs or nnx.Rngs(0))

import json

import pytest
from conftest import run_command
from lenet_jax.benchmarking import benchmark


def _run(*args):
  return run_command("lenet_jax.benchmark", *args)


def test_step_mode_prints_one_valid_json_line():
  proc = _run("--config=configs/lenet5.py", "--batch_size=16", "--steps=3", "--warmup=1")
  assert proc.returncode == 0, proc.stderr
  record = json.loads(proc.stdout.strip().splitlines()[-1])
  assert record["mode"] == "step" and record["batch"] == 16 and record["steps"] == 3
  assert record["images_per_s"] > 0 and record["step_ms"] > 0 and record["compile_s"] > 0
  assert record["flops_per_step"] > 1e7  # forward + backward of LeNet-5 on 16 images
  assert record["implementation"] == "matmul"  # 'auto' on a CPU
  assert "images/s" in proc.stderr


def test_epoch_mode_uses_the_real_input_pipeline():
  proc = _run("--config=configs/lenet5.py", "--mode=epoch", "--config.data.source=embedded",
              "--config.batch_size=500")
  assert proc.returncode == 0, proc.stderr
  record = json.loads(proc.stdout.strip().splitlines()[-1])
  assert record["mode"] == "epoch" and record["source"] == "embedded"
  assert record["train_images"] == 4000 and record["steps"] == 8


def test_profile_dir_traces_the_step_and_lists_its_operations(tmp_path):
  proc = _run("--config=configs/lenet5.py", "--batch_size=16", "--steps=4", "--warmup=1",
              "--config.steps_per_scan=2", f"--profile_dir={tmp_path}")
  assert proc.returncode == 0, proc.stderr
  record = json.loads(proc.stdout.strip().splitlines()[-1])
  assert record["profiled_steps"] == 4  # min(20, --steps), in whole calls of 2 steps
  shares = [r["share"] for r in record["profile"]]
  assert abs(sum(shares) - 1) < 1e-6 and shares == sorted(shares, reverse=True)
  # The matmul implementation's products are named with their source lines.
  assert any(r["source"].startswith("matmul_ops.py:") for r in record["profile"])
  assert "time per XLA operation over 4 traced steps" in proc.stderr
  assert list(tmp_path.glob("**/perfetto_trace.json.gz"))


def test_profile_dir_with_epoch_mode_is_one_line(tmp_path):
  proc = _run("--config=configs/lenet5.py", "--mode=epoch", f"--profile_dir={tmp_path}")
  assert proc.returncode == 1 and "Traceback" not in proc.stderr
  assert "error: --profile_dir traces the step mode only" in proc.stderr


def test_bad_steps_is_one_line():
  proc = _run("--config=configs/lenet5.py", "--steps=0")
  assert proc.returncode == 1 and "Traceback" not in proc.stderr
  assert "error: --steps=0 is invalid" in proc.stderr


def test_flop_count_of_a_padded_convolution_and_its_gradients():
  import jax
  import jax.numpy as jnp

  def loss(x, w):
    y = jax.lax.conv_general_dilated(x, w, (1, 1), ((1, 1), (1, 1)),
                                     dimension_numbers=("NHWC", "HWIO", "NHWC"))
    return jnp.sum(y * y)

  x, w = jnp.ones((2, 4, 4, 3)), jnp.ones((3, 3, 3, 5))
  # Forward: per output channel and image, the taps that land inside the 4x4 image
  # ("same" padding): per axis 2 + 3 + 3 + 2 = 10, so 100 positions x 3 channels.
  forward = 2 * 2 * 5 * 3 * 100
  assert benchmark.count_flops(jax.make_jaxpr(loss)(x, w).jaxpr) == forward
  # Both gradients: each transposed convolution does the forward's multiply-adds again.
  grads = jax.make_jaxpr(jax.grad(loss, argnums=(0, 1)))(x, w).jaxpr
  assert benchmark.count_flops(grads) == 3 * forward


def test_flop_count_agrees_with_xla_on_lenet5():
  import jax
  import jax.numpy as jnp
  from configs import lenet5
  from lenet_jax.runs import validation
  from lenet_jax.optim import optimizers
  from lenet_jax.training import steps
  from lenet_jax.models import task as task_lib
  config = lenet5.get_config()
  config.model.implementation = "xla"
  spec = validation.validate(config)
  task = task_lib.Task(config, spec)
  tx = optimizers.create(config, 10)
  chunk = steps.make_train_chunk(task, tx)
  args = (task_lib.init_state(task, tx), jnp.zeros((64, 28, 28, 1), jnp.uint8),
          jnp.zeros((64,), jnp.int32), jnp.arange(64)[None], jax.random.key(0))
  abstract = jax.tree.map(lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype), args)
  xla = chunk.trace(*abstract).lower(lowering_platforms=("cpu",)).cost_analysis()["flops"]
  counted = benchmark._flops_per_step(chunk, *args)
  assert 0.95 * xla < counted <= xla  # XLA also counts the elementwise work

  # The matmul implementation's banded matrices multiply zeros too; the count
  # is still the model's, taken on the step written with XLA's convolutions.
  config.model.implementation = "matmul"
  resolved = validation.validate(config)
  matmul_chunk = steps.make_train_chunk(task_lib.Task(config, resolved), tx)
  assert benchmark._flops_per_step(matmul_chunk, *args) > 1.3 * counted
  assert benchmark._flops_per_step(benchmark._counting_chunk(config, resolved, matmul_chunk),
                                   *args) == counted


@pytest.mark.full_xla
def test_flops_of_alexnet_leave_out_the_padded_channels():
  from configs import alexnet
  config = alexnet.get_config("data=synthetic")
  config.batch_size, config.data.resize = 4, 67
  config.model.channel_multiple = 8
  resolved, _, _, state, chunk = benchmark._setup(config, 32)
  args = (state,) + benchmark.step_inputs(resolved.spec, 4, 1)
  padded = benchmark._flops_per_step(chunk, *args)
  counted = benchmark._flops_per_step(benchmark._counting_chunk(config, resolved, chunk), *args)
  config.model.channel_multiple = 1
  plain = benchmark._flops_per_step(benchmark._setup(config, 32)[-1], *args)
  assert counted == plain < padded

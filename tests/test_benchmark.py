import json
import os
import subprocess
import sys

from conftest import ROOT


def _run(*args):
  env = dict(os.environ, LENET_JAX_OFFLINE="1", JAX_PLATFORMS="cpu")
  return subprocess.run([sys.executable, "-m", "lenet_jax.benchmark", *args], cwd=ROOT, env=env,
                        capture_output=True, text=True, timeout=300)


def test_step_mode_prints_one_valid_json_line():
  proc = _run("--config=configs/lenet5.py", "--batch_size=16", "--steps=3", "--warmup=1")
  assert proc.returncode == 0, proc.stderr
  record = json.loads(proc.stdout.strip().splitlines()[-1])
  assert record["mode"] == "step" and record["batch"] == 16 and record["steps"] == 3
  assert record["images_per_s"] > 0 and record["step_ms"] > 0 and record["compile_s"] > 0
  assert record["flops_per_step"] > 1e7  # forward + backward of LeNet-5 on 16 images
  assert "images/s" in proc.stderr


def test_epoch_mode_uses_the_real_input_pipeline():
  proc = _run("--config=configs/lenet5.py", "--mode=epoch", "--config.data.source=embedded",
              "--config.batch_size=500")
  assert proc.returncode == 0, proc.stderr
  record = json.loads(proc.stdout.strip().splitlines()[-1])
  assert record["mode"] == "epoch" and record["source"] == "embedded"
  assert record["train_images"] == 4000 and record["steps"] == 8


def test_bad_steps_is_one_line():
  proc = _run("--config=configs/lenet5.py", "--steps=0")
  assert proc.returncode == 1 and "Traceback" not in proc.stderr
  assert "error: --steps=0 is invalid" in proc.stderr

r"""Makes tests/weights/pytorch_references.npz: PyTorch's outputs for the weights and
inputs that tests/weights/pytorch_references.py draws. Run by hand, from the repository
root, where torch and torchvision are installed beside lenet_jax's lock (README.md here):

  JAX_PLATFORMS=cpu PYTHONPATH=.:tests/weights /tmp/torchvenv/bin/python \
      experiments/weights/make_references.py

- torchvision: torchvision.models.alexnet() holding `torchvision_weights()` (loaded with
  strict=True), in eval mode, on two 224x224 images prepared as torchvision's preset
  does: its logits, and a probe of each tensor. Before they are written, the same weights
  saved as safetensors and read by `python -m lenet_jax.import_weights` (configs/
  alexnet_torchvision.py's network) must give those logits to 1e-5.
- two_tower, batchnorm: the small two-tower network's run (`small_config`,
  `small_variables`; model.norm 'lrn', the paper's, and 'batchnorm') exported by
  `python -m lenet_jax.export_weights --format=safetensors` (and --format=torch, which must
  hold the same tensors), loaded with strict=True into `GroupedAlexNet` below, a PyTorch
  network written here with groups=2 convolutions: its logits on the run's prepared inputs
  and a probe of each exported tensor. Before they are written, lenet_jax's logits of the
  run must equal them to 1e-5.
"""

import os
import platform
import subprocess
import sys
import tempfile

import jax.numpy as jnp
import numpy as np
import torch
import torch.nn.functional as F
import torchvision
from torch import nn

import pytorch_references as refs
from lenet_jax.runs import load, run_record, validation
from lenet_jax.models import task as task_lib
from lenet_jax.weights import import_weights, safetensors_file

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RTOL = 1e-5


class GroupedAlexNet(nn.Module):
  """The paper's two-tower AlexNet (Krizhevsky et al. 2012, figure 2) in PyTorch: conv2,
  conv4 and conv5 grouped (groups=2), the paper's LRN (k=2, n=5, alpha=1e-4 on the sum of
  squares, beta=0.75) after conv1's and conv2's ReLU within each tower's maps, or
  BatchNorm before the ReLU (lenet_jax's model.norm='batchnorm'); 3x3/2 max pools;
  fc6 reading pool5 flattened as (C, H, W). Evaluation only (dropout is the identity)."""

  def __init__(self, norm: str, classes: int, fc_units: int, pool5_side: int):
    super().__init__()
    self.norm = norm
    self.conv1 = nn.Conv2d(3, 96, 11, stride=4)
    self.conv2 = nn.Conv2d(96, 256, 5, padding=2, groups=2)
    self.conv3 = nn.Conv2d(256, 384, 3, padding=1)
    self.conv4 = nn.Conv2d(384, 384, 3, padding=1, groups=2)
    self.conv5 = nn.Conv2d(384, 256, 3, padding=1, groups=2)
    if norm == "batchnorm":
      self.bn1, self.bn2 = nn.BatchNorm2d(96, eps=1e-5), nn.BatchNorm2d(256, eps=1e-5)
    self.fc6 = nn.Linear(256 * pool5_side ** 2, fc_units)
    self.fc7 = nn.Linear(fc_units, fc_units)
    self.fc8 = nn.Linear(fc_units, classes)

  def _normalised(self, x, bn):
    if self.norm == "batchnorm":
      return F.relu(bn(x))
    # PyTorch's LRN divides alpha by the window (torch/nn/functional.py): 5 * 1e-4 / 5.
    towers = torch.chunk(F.relu(x), 2, dim=1)
    return torch.cat([F.local_response_norm(t, 5, alpha=5e-4, beta=0.75, k=2.0)
                      for t in towers], dim=1)

  def forward(self, x):
    pool = lambda y: F.max_pool2d(y, 3, 2)  # noqa: E731
    x = pool(self._normalised(self.conv1(x), getattr(self, "bn1", None)))
    x = pool(self._normalised(self.conv2(x), getattr(self, "bn2", None)))
    x = F.relu(self.conv3(x))
    x = F.relu(self.conv4(x))
    x = pool(F.relu(self.conv5(x)))
    x = torch.flatten(x, 1)
    return self.fc8(F.relu(self.fc7(F.relu(self.fc6(x)))))


def command(module, *args):
  env = dict(os.environ, JAX_PLATFORMS="cpu", PYTHONPATH=ROOT)
  done = subprocess.run([sys.executable, "-m", module, *args], cwd=ROOT, env=env,
                        capture_output=True, text=True)
  assert done.returncode == 0, done.stderr
  return done.stdout


def run_logits(workdir: str, batch: np.ndarray) -> np.ndarray:
  config = run_record.load_config(workdir)
  _, state, task = load.load_state(config, workdir)
  return np.asarray(task.logits(task.variables(state), jnp.asarray(batch)))


def assert_close(ours, theirs, what):
  scale = np.abs(theirs).max()
  assert np.std(theirs) > 0.1, f"{what}: logits without signal"
  np.testing.assert_allclose(ours, theirs, rtol=RTOL, atol=RTOL * scale, err_msg=what)
  return float(np.abs(ours - theirs).max() / scale)


def torchvision_reference(tmp: str) -> dict:
  weights = refs.torchvision_weights()
  network = torchvision.models.alexnet()
  network.load_state_dict({k: torch.from_numpy(v) for k, v in weights.items()}, strict=True)
  network.eval()
  batch = refs.images(1, 2, 224)
  with torch.no_grad():
    logits = network(torch.from_numpy(refs.torchvision_inputs(batch))).numpy()
  path = os.path.join(tmp, "alexnet.safetensors")
  safetensors_file.save(path, weights)
  command("lenet_jax.import_weights", "--format=safetensors", f"--file={path}",
          f"--workdir={tmp}/tv_run")
  error = assert_close(run_logits(f"{tmp}/tv_run", batch), logits, "torchvision")
  print(f"torchvision: lenet_jax's imported logits within {error:.1e} of torchvision's")
  out = {"torchvision/logits": logits}
  out.update({f"torchvision/probe/{k}": refs.probe(v) for k, v in weights.items()})
  return out


def small_reference(tmp: str, norm: str, label: str) -> dict:
  config = refs.small_config(norm)
  resolved = validation.validate(config)
  task = task_lib.Task(config, resolved)
  workdir = os.path.join(tmp, label)
  import_weights.write_run(config, resolved, task, refs.small_variables(task), workdir,
                           {"format": "drawn", "seed": 0})
  out_file = os.path.join(tmp, f"{label}.safetensors")
  command("lenet_jax.export_weights", f"--workdir={workdir}", "--format=safetensors",
          f"--out={out_file}")
  command("lenet_jax.export_weights", f"--workdir={workdir}", "--format=torch",
          f"--out={out_file}.pth")
  tensors = safetensors_file.load(out_file)
  saved = torch.load(f"{out_file}.pth", weights_only=True)
  assert sorted(saved) == sorted(tensors)
  for key, value in tensors.items():
    np.testing.assert_array_equal(saved[key].numpy(), value, err_msg=key)
  network = GroupedAlexNet(norm, refs.SMALL_CLASSES, config.model.fc_units, pool5_side=1)
  # strict: every key in its place (BatchNorm2d fills in the num_batches_tracked the file
  # does not hold, as for a state_dict saved before PyTorch counted batches)
  network.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in tensors.items()},
                          strict=True)
  network.eval()
  batch = refs.images(2, 4, refs.SMALL_SIDE)
  inputs = np.asarray(task.prepare(jnp.asarray(batch))).transpose(0, 3, 1, 2)
  with torch.no_grad():
    logits = network(torch.from_numpy(np.ascontiguousarray(inputs))).numpy()
  error = assert_close(run_logits(workdir, batch), logits, label)
  print(f"{label}: lenet_jax's logits within {error:.1e} of the exported file's in PyTorch "
        f"(conv2.weight {tuple(tensors['conv2.weight'].shape)}, groups=2)")
  out = {f"{label}/logits": logits}
  out.update({f"{label}/probe/{k}": refs.probe(v) for k, v in tensors.items()})
  return out


def main():
  references = {}
  with tempfile.TemporaryDirectory() as tmp:
    references.update(torchvision_reference(tmp))
    references.update(small_reference(tmp, "lrn", "two_tower"))
    references.update(small_reference(tmp, "batchnorm", "batchnorm"))
  references["made_with"] = np.array(
      f"torch {torch.__version__}, torchvision {torchvision.__version__}, numpy "
      f"{np.__version__}, Python {platform.python_version()}, {platform.machine()} CPU")
  np.savez_compressed(refs.REFERENCES, **{k: np.asarray(v) for k, v in references.items()})
  print(f"wrote {os.path.relpath(refs.REFERENCES, ROOT)} "
        f"({os.path.getsize(refs.REFERENCES)} bytes): {references['made_with']}")


if __name__ == "__main__":
  main()

"""SDLM's curvature at initialisation, both estimates, and the step sizes they give.

  python experiments/lenet5_1998/sdlm_curvature.py > experiments/lenet5_1998/sdlm_curvature.md

configs/lenet5_1998.py's network at seed 0's initialisation, h_kk from the first
500 embedded training digits (the first pass's estimate). Per layer: the median
h of each estimate, the median ratio paper / exact, and the per-parameter step
size eta / (mu + h) at the first pass's eta = 0.0005 for mu = 0.02, 0.1 and 1 (min,
median and max over the layer's parameters), and the share of parameters whose step
is within 10% of eta / mu (a curvature too small to matter).
"""

import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from configs import lenet5_1998  # noqa: E402
from lenet_jax import data
from lenet_jax.runs import validation  # noqa: E402
from lenet_jax.models import task as task_lib  # noqa: E402
from lenet_jax.optim import sdlm  # noqa: E402

ETA = 0.0005
MUS = (0.02, 0.1, 1.0)


def layers(tree):
  out = {}
  for path, leaf in jax.tree_util.tree_leaves_with_path(tree):
    name = ".".join(str(p.key) for p in path if hasattr(p, "key"))
    out[name] = np.asarray(leaf).ravel()
  return out


def main():
  config = lenet5_1998.get_config()
  config.data.source = "embedded"
  resolved = validation.validate(config)
  task = task_lib.Task(config, resolved)
  images, labels = data.load(config.data, resolved, ("train",)).split("train")
  x, y = jnp.asarray(images[:500]), jnp.asarray(labels[:500])
  exact = layers(sdlm.gauss_newton_diagonal(task.curvature_outputs, task.curvature_loss,
                                            task.params, x, y))
  paper = layers(sdlm.paper_diagonal(task.curvature_stages, task.curvature_loss, task.params,
                                     task.prepare(x), y))
  print("# SDLM's curvature at initialisation (configs/lenet5_1998.py, seed 0, 500 digits)\n")
  print("Made by `python experiments/lenet5_1998/sdlm_curvature.py`; jax "
        f"{jax.__version__}, {jax.devices()[0].device_kind}.\n")
  print("| layer | params | median h, exact | median h, paper | median paper/exact |")
  print("|---|---|---|---|---|")
  for name in exact:
    e, p = exact[name], paper[name]
    ratio = np.median(p / np.maximum(e, 1e-30))
    print(f"| {name} | {e.size:,} | {np.median(e):.3g} | {np.median(p):.3g} | {ratio:.3g} |")
  for label, h_of in (("exact", exact), ("paper", paper)):
    print(f"\nStep sizes eta / (mu + h) at eta = {ETA}, {label} estimate: min / median / max, "
          "and the share of parameters stepping at more than 90% of eta / mu\n")
    print("| layer | " + " | ".join(f"mu = {mu}" for mu in MUS) + " |")
    print("|---|" + "---|" * len(MUS))
    for name, h in h_of.items():
      cells = []
      for mu in MUS:
        step = ETA / (mu + h)
        near = np.mean(step > 0.9 * ETA / mu)
        cells.append(f"{step.min():.2g} / {np.median(step):.2g} / {step.max():.2g} "
                     f"({100 * near:.0f}%)")
      print(f"| {name} | " + " | ".join(cells) + " |")
    every = np.concatenate(list(h_of.values()))
    for mu in MUS:
      step = ETA / (mu + every)
      print(f"\nAll {every.size:,} parameters, mu = {mu}: steps from {step.min():.2g} to "
            f"{step.max():.2g}; {100 * np.mean(step > 0.9 * ETA / mu):.0f}% within 10% of "
            "eta / mu.", end="")
    print()


if __name__ == "__main__":
  main()

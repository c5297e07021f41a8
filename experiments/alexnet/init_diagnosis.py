"""Why AlexNet with the paper's initialisation stays at chance: signal and gradient
statistics at init, and whether short runs leave the initial plateau.

  python experiments/alexnet/init_diagnosis.py --data_dir=/usr/share/datasets/fashion-mnist \\
      [--steps=60 --batch=16]

For each (initialisation, input normalisation): per stage of the network on one
batch of Fashion-MNIST at 227x227x3, the mean activation, the input dependence
(the spread of each unit across the batch's images over the units' mean magnitude),
the fraction of zeros (dead ReLUs), and the gradient norm of each layer's kernel;
then `--steps` SGD steps of configs/alexnet.py's recipe (momentum 0.9, weight decay
5e-4, lr 0.01, dropout on) on the first images, with the loss along the way. One
JSON line per setting.
"""

import argparse
import json
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from configs import alexnet  # noqa: E402
from lenet_jax import data
from lenet_jax.runs import validation
from lenet_jax.optim import optimizers
from lenet_jax.training import steps  # noqa: E402
from lenet_jax.models import task as task_lib  # noqa: E402

SETTINGS = [("paper", "mean_std"), ("paper", "subtract_mean"), ("caffe", "mean_std"),
            ("caffe", "subtract_mean"), ("he", "mean_std")]


def stage_stats(task, variables, images):
  model = task.model(variables)
  x = task.prepare(images, None)
  out = {}
  for name, stage in model.stages():
    x = stage(x)
    flat = x.reshape(x.shape[0], -1)
    magnitude = float(jnp.mean(jnp.abs(flat)))
    out[name] = {"mean": float(jnp.mean(flat)),
                 "input_dependence": float(jnp.mean(jnp.std(flat, axis=0)) / (magnitude + 1e-12)),
                 "zeros": float(jnp.mean(flat == 0))}
  return out


def run(init, normalization, images, labels, args):
  config = alexnet.get_config()
  config.model.init = init
  config.data.normalization = normalization
  config.batch_size = args.batch
  resolved = validation.validate(config)
  task = task_lib.Task(config, resolved)
  stats = stage_stats(task, task.variables(), images[:args.batch])
  _, _, grads, _ = jax.jit(task.loss_and_grads)(task.variables(), images[:args.batch],
                                                labels[:args.batch], jax.random.key(0))
  norms = {"/".join(str(getattr(p, "key", p)) for p in path[:1]): float(jnp.linalg.norm(g))
           for path, g in jax.tree_util.tree_leaves_with_path(grads)
           if getattr(path[-2], "key", None) == "kernel" or "kernel" in str(path)}
  tx = optimizers.create(config, args.steps)
  state = task_lib.init_state(task, tx)
  chunk = steps.make_train_chunk(task, tx)
  n = args.steps * args.batch
  order = jnp.arange(n).reshape(args.steps, args.batch)
  losses, t0 = [], time.perf_counter()
  for i in range(args.steps):
    state, sums, _ = chunk(state, images[:n], labels[:n], order[i:i + 1], jax.random.key(2))
    losses.append(float(sums["loss"] / sums["count"]))
  return {"init": init, "normalization": normalization, "batch": args.batch,
          "steps": args.steps, "stages": stats, "kernel_grad_norms": norms,
          "loss_first": losses[0], "loss_by_10_steps": [float(np.mean(losses[i:i + 10]))
                                                        for i in range(0, len(losses), 10)],
          "seconds": time.perf_counter() - t0}


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument("--data_dir", default="/usr/share/datasets/fashion-mnist")
  parser.add_argument("--steps", type=int, default=60)
  parser.add_argument("--batch", type=int, default=16)
  parser.add_argument("--only", default="", help="init/normalization, e.g. paper/mean_std")
  args = parser.parse_args()
  config = alexnet.get_config()
  config.data.source, config.data.dir = "idx", args.data_dir
  images, labels = data.load(config.data, validation.validate(config),
                             ("train",)).split("train")
  n = args.steps * args.batch
  images, labels = jnp.asarray(images[:n]), jnp.asarray(labels[:n])
  for init, normalization in SETTINGS:
    if args.only and args.only != f"{init}/{normalization}":
      continue
    print(json.dumps(run(init, normalization, images, labels, args)), flush=True)


if __name__ == "__main__":
  main()

"""lenet_jax: LeNet-5 (LeCun et al. 1998) and AlexNet (Krizhevsky et al. 2012) in JAX/Flax."""

import sys

__version__ = "0.1.0"

if sys.argv[:1] == ["-m"]:
  # Being imported for `python -m lenet_jax.<command>` (Python sets argv[0] to "-m" while
  # it finds the module): stop signals are held from here on, so that a Ctrl-C or a SIGTERM
  # while JAX and the command's libraries import is a clean stop at the command's first
  # safe point, not a traceback or a silent kill (lenet_jax/common/preemption.py).
  from lenet_jax.common import preemption

  preemption.hold_from_start()

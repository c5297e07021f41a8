"""lenet_jax: LeNet-5 (LeCun et al. 1998) and AlexNet (Krizhevsky et al. 2012) in JAX/Flax."""

__version__ = "0.1.0"

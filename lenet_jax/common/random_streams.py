"""The random streams a run draws, each from `config.seed` plus its own offset, named here
once. A run's draws (and with them the tests' golden values) depend on every offset:
change one and each recorded result would be drawn anew."""

PARAMS = 0  # the model's initial values: nnx.Rngs(params=config.seed + PARAMS)
DATA_ORDER = 1  # each epoch's shuffle of a resident training set
STEPS = 2  # each step's dropout masks, distortions and crops (the step folded in)
FIXED_DISTORTIONS = 3  # the paper's distorted training set, made once
BOOSTING = 101  # boosting's candidate patterns (a stream per filter folded in)
STREAM_EPOCH = 7919  # a streamed epoch's crops and flips: config.seed + 7919 * epoch
SYNTHETIC = 0  # the synthetic dataset's images: a fixed seed, the same for every run

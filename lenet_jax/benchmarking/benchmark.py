r"""Training throughput of a config, measured the way the PyTorch anchor measures it
(`python -m lenet_jax.benchmark`).

  python -m lenet_jax.benchmark --config=configs/lenet5.py --batch_size=128 --steps=300
  python -m lenet_jax.benchmark --config=configs/alexnet.py:data=synthetic --batch_size=256 \
      --config.model.dtype=bfloat16 --config.steps_per_scan=50  # AlexNet, on a GPU
  python -m lenet_jax.benchmark --config=configs/lenet5.py --mode=epoch   # the real input pipeline
  python -m lenet_jax.benchmark --config=configs/lenet5.py --profile_dir=/tmp/prof  # + time per XLA op

`--mode=step` (default): random images resident on the device, the jit-compiled
training step (forward, backward, optimizer) after warm-up, timed with
`block_until_ready`. `--mode=epoch`: the config's real data source, loaded and
put on the device, then one whole epoch of the training loop after a warm-up
epoch, so an input-bound run shows up.

Prints one JSON line per measurement and a readable line: images/s, ms per step,
compile seconds, model FLOPs per step (the traced step's convolutions and
matrix products) and, where the device's peak is known, model FLOPs utilisation.
`--profile_dir` adds a jax.profiler trace of up to 20 more steps and a table of
the step's XLA operations by time (`lenet_jax.profiling`).
"""

import copy
import math
import time

import jax
import jax.extend
import jax.numpy as jnp
import numpy as np

from lenet_jax import data
from lenet_jax.training import profiling
from lenet_jax.common import files, preemption
from lenet_jax.common.errors import ConfigError, UserError
from lenet_jax.runs import validation
from lenet_jax.models import task as task_lib
from lenet_jax.optim import optimizers
from lenet_jax.training import parallel
from lenet_jax.training import steps as steps_lib

PROFILED_STEPS = 20

# Dense peak FLOP/s by device kind and compute dtype (vendor figures, no sparsity).
# float32 is the TF32 tensor-core peak: at default precision XLA runs float32
# matrix products and convolutions on GPUs in TF32.
PEAK_FLOPS = {
    "NVIDIA H100 80GB HBM3": {"bfloat16": 989e12, "float32": 495e12},
    "NVIDIA H200": {"bfloat16": 989e12, "float32": 495e12},
    "NVIDIA A100-SXM4-80GB": {"bfloat16": 312e12, "float32": 156e12},
}


def compute_dtype(config) -> str:
  """The model's compute dtype: AlexNet's `model.dtype`; the LeNets compute in float32."""
  return config.model.dtype if "dtype" in config.model else "float32"


def _taps(size, kernel, out, stride, pad_lo, lhs_dilation, rhs_dilation) -> int:
  """(output, kernel tap) pairs of one spatial axis that land on a real input element,
  not on padding or on the holes of a dilated (transposed) input."""
  last = (size - 1) * lhs_dilation
  return sum(1 for o in range(out) for t in range(kernel)
             if 0 <= (p := o * stride + t * rhs_dilation - pad_lo) <= last
             and p % lhs_dilation == 0)


def _conv_flops(eqn) -> float:
  lhs, rhs = (v.aval for v in eqn.invars[:2])
  out = eqn.outvars[0].aval
  params = eqn.params
  lhs_spec, rhs_spec, out_spec = params["dimension_numbers"]
  taps = math.prod(
      _taps(lhs.shape[l], rhs.shape[r], out.shape[o], stride, pad[0], ld, rd)
      for l, r, o, stride, pad, ld, rd in zip(
          lhs_spec[2:], rhs_spec[2:], out_spec[2:], params["window_strides"], params["padding"],
          params["lhs_dilation"], params["rhs_dilation"]))
  outputs = math.prod(out.shape) // math.prod(out.shape[d] for d in out_spec[2:])
  return 2.0 * outputs * rhs.shape[rhs_spec[1]] * taps


def _dot_flops(eqn) -> float:
  lhs = eqn.invars[0].aval
  (contract, _), _ = eqn.params["dimension_numbers"]
  return 2.0 * math.prod(eqn.outvars[0].aval.shape) * math.prod(lhs.shape[d] for d in contract)


def count_flops(jaxpr) -> float:
  """FLOPs of the convolutions and matrix products in a jaxpr, 2 per multiply-add
  (taps on padding or on a transposed convolution's holes are not counted),
  through nested calls, and loop bodies times their trip count."""
  total = 0.0
  for eqn in jaxpr.eqns:
    name = eqn.primitive.name
    if name == "conv_general_dilated":
      total += _conv_flops(eqn)
    elif name == "dot_general":
      total += _dot_flops(eqn)
    times = eqn.params.get("length", 1) if name == "scan" else 1
    for sub in jax.extend.core.jaxprs_in_params(eqn.params):
      total += times * count_flops(sub)
  return total


def _flops_per_step(jitted, *args) -> float | None:
  """Model FLOPs of one call: its convolutions and matrix products, counted from
  the traced program (forward, backward and optimizer alike), the same on every
  backend. (XLA's cost analysis is no help on GPUs: the compiled program hides
  cuDNN's convolutions in library calls, and nothing is analysed before that.)
  """
  abstract = jax.tree.map(lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype), args)
  try:
    return count_flops(jitted.trace(*abstract).jaxpr.jaxpr) or None
  except Exception:  # a count is a nicety; never fail the measurement for it
    return None


def _counting_chunk(config, resolved, train_chunk):
  """The step whose convolutions and matrix products are the model's own.

  A LeNet's matmul implementation also multiplies the zeros of its banded
  matrices, and AlexNet's `channel_multiple` pads conv1's channels with zeros;
  their FLOPs are counted on the same step without them (same parameters, same
  arithmetic of the model).
  """
  knobs = resolved.knobs
  if knobs.get("implementation", "xla") != "xla":
    plain_form = {"implementation": "xla"}
  elif knobs.get("channel_multiple", 1) != 1 or knobs.get("conv1", "strided") != "strided":
    plain_form = {"channel_multiple": 1, "conv1": "strided"}  # no zero channels or taps
  else:
    return train_chunk
  plain = copy.deepcopy(config)
  plain.model.update(plain_form)
  return _setup(plain, plain.batch_size * 8)[-1]


def _setup(config, n_images):
  resolved = validation.validate(config)
  task = task_lib.Task(config, resolved)
  tx = optimizers.create(config, max(1, n_images // config.batch_size))
  state, loss_and_grads = parallel.setup(task, config, task_lib.init_state(task, tx))
  return resolved, task, tx, state, steps_lib.make_train_chunk(task, tx, loss_and_grads)


def step_inputs(spec, batch: int, steps: int):
  """(images, labels, order, key) for one call of `steps` training steps: 8 random
  batches resident on the device, cycled."""
  rng = np.random.default_rng(0)
  n = batch * 8
  images = jax.device_put(rng.integers(0, 256, (n,) + spec.image_shape, dtype=np.uint8))
  labels = jax.device_put(rng.integers(0, spec.num_classes, (n,), dtype=np.int32))
  order = jnp.tile(jnp.arange(n).reshape(8, batch), (-(-steps // 8), 1))[:steps]
  return images, labels, order, jax.random.key(0)


def measure_steps(config, steps: int, warmup: int, profile_dir: str | None = None) -> dict:
  """Throughput of the training step on random data resident on the device.

  With `profile_dir`, up to PROFILED_STEPS more steps (whole calls) run under
  `jax.profiler.trace` after the timed ones, and the record's "profile" lists
  the step's XLA operations by time.
  """
  b = config.batch_size
  resolved, task, tx, state, train_chunk = _setup(config, b * 8)
  k = min(resolved.steps_per_scan, steps)
  images, labels, chunk, key = step_inputs(resolved.spec, b, k)

  t0 = time.perf_counter()
  compiled = train_chunk.lower(state, images, labels, chunk, key).compile()
  compile_s = time.perf_counter() - t0
  flops = _flops_per_step(_counting_chunk(config, resolved, train_chunk),
                          state, images, labels, chunk[:1], key)

  with preemption.StopSignals() as stop:
    stop.check_before("the warm-up; nothing was measured")
    for _ in range(max(1, -(-warmup // k))):
      state, sums, _ = compiled(state, images, labels, chunk, key)
    jax.block_until_ready(state)
    n_chunks = max(1, steps // k)
    t0 = time.perf_counter()
    for i in range(n_chunks):
      state, sums, _ = compiled(state, images, labels, chunk, key)
      if stop.signum is not None:  # a chunk is in flight: at most one more to wait for
        raise stop.stopped(f"after {(i + 1) * k} of {n_chunks * k} timed steps; nothing was "
                           "measured")
    jax.block_until_ready(state)
  seconds = time.perf_counter() - t0
  timed_steps = n_chunks * k
  record = _record(config, resolved, "step", b, timed_steps, seconds, compile_s, flops,
                   loss=float(sums["loss"] / sums["count"]), steps_per_dispatch=k)
  if profile_dir:
    calls = max(1, -(-min(PROFILED_STEPS, steps) // k))
    with jax.profiler.trace(profile_dir, create_perfetto_trace=True):
      for _ in range(calls):
        state, _, _ = compiled(state, images, labels, chunk, key)
      jax.block_until_ready(state)
    record["profile"] = profiling.summarize(profiling.latest_trace(profile_dir),
                                            compiled.as_text(), calls * k)
    record["profiled_steps"] = calls * k
  return record


def measure_epoch(config) -> dict:
  """One real epoch through the config's input pipeline, after a warm-up epoch."""
  t0 = time.perf_counter()
  resolved = validation.validate(config)
  dataset = data.load(config.data, resolved, ("train",))
  load_s = time.perf_counter() - t0
  images, labels = (jax.device_put(a) for a in dataset.split("train"))
  n = labels.shape[0]
  b = config.batch_size
  if n < b:
    raise ConfigError("batch_size", b, f"larger than the {n} training images")
  resolved, task, tx, state, train_chunk = _setup(config, n)
  steps = n // b
  key = jax.random.key(0)

  def epoch(state, index):
    order = steps_lib.epoch_order(jax.random.key(1), index, n, b)
    with preemption.StopSignals() as signals:
      for start, stop in steps_lib.chunks(steps, resolved.steps_per_scan):
        state, sums, _ = train_chunk(state, images, labels, order[start:stop], key)
        if signals.signum is not None:
          raise signals.stopped(f"in epoch {index} of the benchmark; nothing was measured")
    jax.block_until_ready(state)
    return state, sums

  t0 = time.perf_counter()
  state, _ = epoch(state, 0)
  compile_s = time.perf_counter() - t0  # the warm-up epoch, compilation included
  t0 = time.perf_counter()
  state, sums = epoch(state, 1)
  seconds = time.perf_counter() - t0
  record = _record(config, resolved, "epoch", b, steps, seconds, compile_s, None,
                   loss=float(sums["loss"] / sums["count"]))
  record.update(source=dataset.source, train_images=int(n), load_s=load_s,
                warmup_epoch_s=record.pop("compile_s"))
  return record


def _record(config, resolved, mode, batch, steps, seconds, compile_s, flops, **extra) -> dict:
  device = jax.devices()[0]
  dtype = compute_dtype(config)
  step_s = seconds / steps
  peak = PEAK_FLOPS.get(device.device_kind, {}).get(dtype)
  record = {
      "benchmark": "lenet_jax", "mode": mode, "model": config.model.name, "data": config.data.name,
      "device": device.device_kind, "platform": device.platform, "devices": jax.device_count(),
      "jax": jax.__version__, "dtype": dtype,
      "implementation": resolved.knobs.get("implementation"),
      "channel_multiple": resolved.knobs.get("channel_multiple"),
      **({"conv1": resolved.knobs["conv1"], "lrn_dtype": resolved.knobs["lrn_dtype"],
          "pool_gradient": config.model.pool_gradient, "grouped_conv": config.model.grouped_conv}
         if "conv1" in resolved.knobs else {}),
      "batch": batch, "steps": steps,
      "images_per_s": batch / step_s, "step_ms": 1e3 * step_s, "compile_s": compile_s,
      "flops_per_step": flops,
      "mfu": (flops / step_s / peak) if (flops and peak) else None,
  }
  record.update(extra)
  return record


def readable(r: dict) -> str:
  padded = r.get("channel_multiple") or 1
  variants = [f"{k}={r[k]}" for k, d in (("conv1", "strided"),
                                          ("pool_gradient", "select_and_scatter"),
                                          ("lrn_dtype", "float32"), ("grouped_conv", "split"))
              if r.get(k, d) != d]
  kind = ", ".join(filter(None, (r["dtype"], r.get("implementation"),
                                 f"conv channels to multiples of {padded}" if padded > 1 else None,
                                 *variants)))
  line = (f"{r['model']} {r['mode']} batch {r['batch']} on {r['device']} ({kind}): "
          f"{r['images_per_s']:,.0f} images/s, {r['step_ms']:.3f} ms/step")
  if r.get("compile_s") is not None:
    line += f", compile {r['compile_s']:.1f} s"
  if r.get("flops_per_step"):
    line += f", {r['flops_per_step'] / 1e9:.2f} GFLOP/step"
  if r.get("mfu") is not None:
    line += f", MFU {100 * r['mfu']:.1f}%"
  if r.get("load_s") is not None:
    line += f"; data {r['source']} loaded in {r['load_s']:.1f} s"
  return line


def run(config, mode: str, steps: int, warmup: int, profile_dir: str | None) -> dict:
  """What `python -m lenet_jax.benchmark` measures: the step on resident random images
  (`mode='step'`, with a profile into `profile_dir` when given) or one real epoch."""
  if steps < 1:
    raise UserError(f"--steps={steps} is invalid: must be >= 1")
  if profile_dir and mode != "step":
    raise UserError("--profile_dir traces the step mode only: leave out --mode=epoch")
  if profile_dir:
    files.writable_dir(profile_dir, "--profile_dir")
  parallel.initialize_distributed(config)
  if mode == "step":  # random images of the dataset's shape; nothing is loaded
    return measure_steps(config, steps, warmup, profile_dir)
  return measure_epoch(config)

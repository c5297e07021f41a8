"""Batch buffers are reused only once nothing refers to them."""

import jax
import numpy as np

from lenet_jax.data import batch_buffers

SHAPE = (4, 8, 8, 3)


def test_a_released_buffer_is_handed_out_again_aligned():
  pool = batch_buffers.BufferPool(keep=2)
  a = pool.take(SHAPE)
  assert a.shape == SHAPE and a.dtype == np.uint8 and a.ctypes.data % 64 == 0
  address = a.ctypes.data
  del a
  b = pool.take(SHAPE)
  assert b.ctypes.data == address and pool.allocated == 1
  assert pool.take((2, 8, 8, 3)).ctypes.data != address  # another size: its own buffer


def test_a_buffer_is_not_reused_while_a_view_or_a_device_array_refers_to_it():
  pool = batch_buffers.BufferPool(keep=4)
  a = pool.take(SHAPE)
  a[:] = 7
  address, view = a.ctypes.data, a[1:]
  del a
  b = pool.take(SHAPE)
  assert b.ctypes.data != address
  b[:] = 1
  assert (view == 7).all()
  del view, b
  c = pool.take(SHAPE)
  c[:] = 9
  on_device = jax.device_put(c)  # a CPU device takes an aligned buffer without a copy
  del c
  d = pool.take(SHAPE)
  d[:] = 3
  assert (np.asarray(on_device) == 9).all()
  assert pool.allocated == 2


def test_at_most_keep_buffers_are_kept():
  pool = batch_buffers.BufferPool(keep=2)
  held = [pool.take(SHAPE) for _ in range(3)]
  assert pool.allocated == 3
  addresses = {a.ctypes.data for a in held}
  del held
  again = [pool.take(SHAPE) for _ in range(3)]
  assert pool.allocated == 4  # two kept buffers reused, one new
  assert len({a.ctypes.data for a in again[:2]} & addresses) == 2

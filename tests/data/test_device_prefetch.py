"""Batches placed ahead in a thread: the same batches in the same order, errors raised
where they struck, the thread gone when the loop stops."""

import threading
import time

import numpy as np
import pytest

from lenet_jax.data import device_prefetch
from lenet_jax.common.errors import UserError


def _batches(n=None, fail_at=None, drawn=None):
  k = 0
  while n is None or k < n:
    if k == fail_at:
      raise UserError(f"shard {k} cannot be read")
    if drawn is not None:
      drawn.append(k)
    yield np.full(3, k), np.asarray([k])
    k += 1


def _place(x):
  return ("placed", threading.current_thread().name, int(x[0]))


@pytest.mark.parametrize("ahead", [0, 1, 3])
def test_the_same_batches_in_order_placed_in_a_thread_when_ahead(ahead):
  got = list(device_prefetch.placed(_batches(5), _place, ahead))
  assert [(i[2], l[2]) for i, l in got] == [(k, k) for k in range(5)]
  threads = {i[1] for i, _ in got}
  assert threads == ({"MainThread"} if ahead == 0 else {"device_prefetch"})


def test_an_error_is_raised_where_its_batch_would_have_come():
  got = []
  with pytest.raises(UserError, match="shard 2 cannot be read"):
    for images, _ in device_prefetch.placed(_batches(fail_at=2), _place, 2):
      got.append(images[2])
  assert got == [0, 1]


def test_it_reads_at_most_ahead_batches_in_advance_and_stops_when_closed():
  drawn = []
  stream = device_prefetch.placed(_batches(drawn=drawn), _place, 2)
  next(stream)
  time.sleep(0.3)
  assert len(drawn) <= 1 + 2 + 1  # handed out, queued, one placed and waiting for room
  stream.close()
  assert not any(t.name == "device_prefetch" for t in threading.enumerate())
  count = len(drawn)
  time.sleep(0.3)
  assert len(drawn) == count

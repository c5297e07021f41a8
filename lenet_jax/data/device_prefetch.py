"""Streamed batches put on the device(s) ahead of the step that takes them, in a
thread, so the training loop only dispatches.

Putting a batch on an accelerator copies it (50 MB for 256 of AlexNet's 256x256x3
images); done in the loop, that copy sits between one step's dispatch and the
next. Here a thread places up to `ahead` batches while the loop dispatches
(`config.data.device_prefetch`; 0 places each batch in the loop, as before).
"""

import queue
import threading

_END = object()


class _Failure:
  def __init__(self, error: BaseException):
    self.error = error


def placed(batches, place, ahead: int):
  """Yields (place(images), place(labels)) for each (images, labels) of `batches`,
  placed up to `ahead` batches in advance by a thread. An error raised while reading
  or placing is raised here, where that batch would have come; closing the generator
  stops the thread."""
  if ahead <= 0:
    for images, labels in batches:
      yield place(images), place(labels)
    return
  ready = queue.Queue(maxsize=ahead)
  stop = threading.Event()

  def hand_over(item) -> bool:
    while not stop.is_set():
      try:
        ready.put(item, timeout=0.1)
        return True
      except queue.Full:
        pass
    return False

  def work():
    try:
      for images, labels in batches:
        if not hand_over((place(images), place(labels))):
          return
      hand_over(_END)
    except BaseException as e:  # handed to the loop, which raises it
      hand_over(_Failure(e))

  thread = threading.Thread(target=work, name="device_prefetch", daemon=True)
  thread.start()
  try:
    while True:
      item = ready.get()
      if item is _END:
        return
      if isinstance(item, _Failure):
        raise item.error
      yield item
  finally:
    stop.set()
    thread.join()

"""Weights files from elsewhere never run code: a pickle that would call a function outside
the allow-list is refused before the call, in one line naming the file."""

import os
import pickle

import numpy as np
import pytest

from conftest import assert_one_line_error, run_command
from lenet_jax.common.errors import UserError
from lenet_jax.weights import bvlc, untrusted


class _Creates:
  """Unpickled, it would create `path` (a stand-in for any shell command)."""

  def __init__(self, path):
    self.path = path

  def __reduce__(self):
    return (os.system, (f"touch {self.path}",))


def _crafted_npy(path, created):
  """An .npy holding a pickled dict like bvlc_alexnet.npy's, one of whose values runs code."""
  payload = np.empty((), dtype=object)
  payload[()] = {"conv1": [np.zeros((2, 2), np.float32), _Creates(created)]}
  with open(path, "wb") as f:
    np.lib.format.write_array_header_1_0(f, {"descr": "|O", "fortran_order": False,
                                             "shape": ()})
    pickle.dump(payload, f, protocol=2)


def test_a_pickle_that_would_run_code_is_refused_and_nothing_runs(tmp_path):
  path, created = tmp_path / "bvlc_alexnet.npy", tmp_path / "created_by_the_pickle"
  _crafted_npy(path, created)
  with pytest.raises(UserError, match=rf"--file={path} asks to run posix.system when it is read"):
    bvlc.load(str(path))
  assert not created.exists()
  command = run_command("lenet_jax.import_weights", "--format=bvlc_npy", f"--file={path}",
                        f"--workdir={tmp_path}/run")
  assert_one_line_error(command, f"--file={path} asks to run", "nothing in it ran")
  assert not created.exists() and not (tmp_path / "run").exists()
  # numpy's own reader would have run it: the file is a working exploit
  np.load(path, allow_pickle=True)
  assert created.exists()


def test_the_allow_list_reads_what_numpy_writes(tmp_path):
  weights = {"conv1": [np.arange(6, dtype=np.float32).reshape(2, 3), np.ones(3, np.float32)],
             "fc8": (np.zeros(4, np.float64), "a name")}
  path = str(tmp_path / "w.npy")
  np.save(path, weights, allow_pickle=True)
  read = untrusted.load_npy(path).item()
  np.testing.assert_array_equal(read["conv1"][0], weights["conv1"][0])
  assert read["fc8"][1] == "a name" and read["fc8"][0].dtype == np.float64
  plain = str(tmp_path / "plain.npy")
  np.save(plain, np.arange(5))
  np.testing.assert_array_equal(untrusted.load_npy(plain), np.arange(5))

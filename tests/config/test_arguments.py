"""`--config=file.py:ARGS`: every config file parses its argument strictly, and the
variants its docstring shows all load."""

import glob
import os
import re

import pytest

from conftest import ROOT
from lenet_jax.common.errors import UserError
from lenet_jax.config import arguments, loading

CONFIGS = sorted(p for p in glob.glob(os.path.join(ROOT, "configs", "*.py"))
                 if not p.endswith(("__init__.py", "base.py")))


def test_parse():
  allowed = {"data": "NAME", "runlocal": None}
  assert arguments.parse("data=cifar10,runlocal", allowed, "c.py") == {
      "data": "cifar10", "runlocal": True}
  assert arguments.parse("", allowed, "c.py") == {}
  with pytest.raises(UserError, match=r"c.py takes no argument 'runlcoal' \(did you mean "
                     r"'runlocal'\?\); it takes data=NAME, runlocal"):
    arguments.parse("runlcoal", allowed, "c.py")
  with pytest.raises(UserError, match="write 'data=NAME'"):
    arguments.parse("data", allowed, "c.py")
  assert arguments.parse("runlocal=True", allowed, "c.py") == {"runlocal": True}
  assert arguments.parse("runlocal=false", allowed, "c.py") == {"runlocal": False}
  with pytest.raises(UserError, match="write 'runlocal'"):
    arguments.parse("runlocal=yes", allowed, "c.py")


@pytest.mark.parametrize("path", CONFIGS, ids=os.path.basename)
def test_every_config_refuses_an_unknown_word(path):
  relative = os.path.relpath(path, ROOT)
  with pytest.raises(UserError, match="takes no argument 'runlcoal'"):
    loading.get_config(f"{relative}:runlcoal")


@pytest.mark.parametrize("path", CONFIGS, ids=os.path.basename)
def test_every_variant_a_config_documents_loads(path):
  relative = os.path.relpath(path, ROOT)
  with open(path) as f:
    shown = set(re.findall(re.escape(relative) + r":([\w=.,]+)", f.read()))
  loading.get_config(relative)
  for arg in shown:
    assert loading.get_config(f"{relative}:{arg}") is not None, arg


def test_the_loader_refuses_what_is_not_a_config(tmp_path):
  with pytest.raises(UserError, match="no such file"):
    loading.get_config(str(tmp_path / "nope.py"))
  plain = tmp_path / "plain.py"
  plain.write_text("x = 1\n")
  with pytest.raises(UserError, match="defines no get_config"):
    loading.get_config(str(plain))
  broken = tmp_path / "broken.py"
  broken.write_text("def get_config(arg=''):\n  return {}['x']\n")
  with pytest.raises(UserError, match="get_config raised KeyError"):
    loading.get_config(str(broken))

"""The pinned environment: requirements.lock agrees with the ranges, and runs say what made them."""

import json
import os
import re
import tomllib

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from conftest import ROOT, tiny_config
from lenet_jax.runs import versions
from lenet_jax.training import train


def _locked() -> dict:
  with open(os.path.join(ROOT, "requirements.lock")) as f:
    pins = re.findall(r"^([A-Za-z0-9_.\-]+)==([^\s\\]+)", f.read(), re.MULTILINE)
  return {canonicalize_name(name): Version(v) for name, v in pins}


def _requirements_txt() -> list:
  with open(os.path.join(ROOT, "requirements.txt")) as f:
    lines = [line.split("#")[0].strip() for line in f]
  return [Requirement(line) for line in lines if line]


def _pyproject() -> list:
  with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
    project = tomllib.load(f)["project"]
  deps = project["dependencies"] + project["optional-dependencies"]["test"]
  return [Requirement(d) for d in deps]


def test_every_locked_version_satisfies_its_ranges():
  locked = _locked()
  for source, requirements in (("requirements.txt", _requirements_txt()),
                               ("pyproject.toml", _pyproject())):
    for req in requirements:
      name = canonicalize_name(req.name)
      assert name in locked, f"{source}: {req.name} is not in requirements.lock (make lock)"
      assert req.specifier.contains(locked[name], prereleases=True), (
          f"{source} asks {req}, requirements.lock pins {locked[name]}: run make lock")


def test_every_hash_pin_has_a_hash():
  with open(os.path.join(ROOT, "requirements.lock")) as f:
    blocks = re.split(r"\n(?=[A-Za-z0-9])", f.read())
  pinned = [b for b in blocks if "==" in b.splitlines()[0]]
  assert len(pinned) == len(_locked()) > 50
  assert all("--hash=sha256:" in b for b in pinned)


def test_requirements_txt_and_pyproject_ask_for_the_same_packages():
  runtime = {canonicalize_name(r.name): str(r.specifier) for r in _requirements_txt()}
  declared = {canonicalize_name(r.name): str(r.specifier) for r in _pyproject()}
  assert runtime == declared


def test_a_run_directory_records_its_versions(tmp_path):
  train.train_and_evaluate(tiny_config(**{"data.name": "synthetic", "data.source": "synthetic",
                                          "data.synthetic_train_size": 50,
                                          "data.synthetic_test_size": 50}), str(tmp_path))
  with open(tmp_path / "versions.json") as f:
    recorded = json.load(f)
  import jax
  import flax
  assert recorded["jax"] == jax.__version__ and recorded["flax"] == flax.__version__
  for name in versions.PACKAGES:
    assert recorded[name], name
  assert recorded["device_kind"] == jax.devices()[0].device_kind
  assert recorded["backend"] == "cpu" and recorded["device_count"] == jax.device_count()

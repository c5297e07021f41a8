"""The package's shape: commands at the top, libraries below them in floors, and the seams
between them (read-only commands without the training loop, no import cycle, flags
defined by commands only)."""

import ast
import glob
import os
import subprocess
import sys

from conftest import ROOT

PACKAGE = os.path.join(ROOT, "lenet_jax")
COMMANDS = sorted(os.path.splitext(os.path.basename(p))[0]
                  for p in glob.glob(os.path.join(PACKAGE, "*.py")) if not p.endswith("__init__.py"))
READ_ONLY = ("evaluate", "predict", "figures", "summary", "import_weights", "export_weights",
             "committee", "plots")
# Folders are floors: the commands on top; training, sweeps and runs (with the weight formats
# and the benchmarks) below them; then models, data and optim; config and common at the
# ground. An import runs down, or along a floor, never up.
COMMANDS_FLOOR = 4
FLOORS = {"training": 3, "sweeps": 3, "runs": 3, "weights": 3, "benchmarking": 3,
          "models": 2, "data": 2, "optim": 2,
          "config": 1, "common": 1}


def _module(path: str) -> str:
  relative = os.path.relpath(path, ROOT)[:-3].replace(os.sep, ".")
  return relative[:-len(".__init__")] if relative.endswith(".__init__") else relative


def _imports(path: str) -> set:
  """The lenet_jax modules a file imports, at module level or inside functions."""
  with open(path) as f:
    tree = ast.parse(f.read())
  found = set()
  for node in ast.walk(tree):
    if isinstance(node, ast.Import):
      found.update(a.name for a in node.names if a.name.startswith("lenet_jax"))
    elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("lenet_jax"):
      for alias in node.names:
        candidate = f"{node.module}.{alias.name}"
        found.add(candidate if os.path.exists(os.path.join(ROOT, *candidate.split(".")) + ".py")
                  or os.path.isdir(os.path.join(ROOT, *candidate.split("."))) else node.module)
  return found


def _graph() -> dict:
  paths = glob.glob(os.path.join(PACKAGE, "**", "*.py"), recursive=True)
  return {_module(p): _imports(p) for p in paths}


def test_the_top_level_holds_the_commands_and_each_is_thin():
  assert COMMANDS == ["benchmark", "boost", "committee", "evaluate", "export_weights", "figures",
                      "import_weights", "main", "plots", "predict", "prepare", "summary", "sweep"]
  for name in COMMANDS:
    with open(os.path.join(PACKAGE, f"{name}.py")) as f:
      source = f.read()
    assert 'if __name__ == "__main__":' in source and "cli.run(" in source, name
    assert len(source.splitlines()) < 90, name  # flags and one call
  for path in glob.glob(os.path.join(PACKAGE, "*", "**", "*.py"), recursive=True):
    with open(path) as f:
      tree = ast.parse(f.read())
    mains = [n for n in tree.body if isinstance(n, ast.If) and "__main__" in ast.unparse(n.test)]
    assert not mains, path  # libraries are not run


def test_no_import_cycle():
  graph = _graph()
  seen, on_stack = set(), set()

  def visit(node, path):
    if node in on_stack:
      raise AssertionError(" -> ".join(path[path.index(node):] + [node]))
    if node in seen:
      return
    seen.add(node)
    on_stack.add(node)
    for child in sorted(graph.get(node, ())):
      if child != node and not node.startswith(child + "."):  # a package's own __init__
        visit(child, path + [node])
    on_stack.discard(node)

  for module in sorted(graph):
    visit(module, [])


def _printed_after_importing(modules, setup: str, expression: str) -> str:
  """What a fresh interpreter prints for `expression` after `setup` and importing
  `modules` (nothing else imported before them)."""
  code = setup + "\n" + "".join(f"import {m}\n" for m in modules) + f"print({expression})"
  out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
  assert out.returncode == 0, out.stderr
  return out.stdout.strip()


def test_read_only_commands_do_not_import_the_training_loop():
  assert _printed_after_importing(
      [f"lenet_jax.{name}" for name in READ_ONLY], "import sys",
      "sorted(m for m in sys.modules if m.startswith('lenet_jax.training.train'))") == "[]"


def test_no_library_module_defines_flags_when_imported():
  libraries = sorted(m for m in _graph() if m.count(".") >= 1 and not m.endswith("__init__")
                     and m.split(".")[1] not in COMMANDS)
  assert _printed_after_importing(
      libraries, "from absl import flags",
      "sorted(m for m in flags.FLAGS.flags_by_module_dict() if 'lenet_jax' in m)") == "[]"


def _folder(module: str) -> str | None:
  """The library folder of a lenet_jax module, 'command' for a command, None for the
  package itself."""
  parts = module.split(".")
  if len(parts) == 1:
    return None
  return parts[1] if parts[1] in FLOORS or os.path.isdir(os.path.join(PACKAGE, parts[1])) \
      else "command"


def _floor(folder: str) -> int:
  return COMMANDS_FLOOR if folder == "command" else FLOORS[folder]


def _folder_imports(graph) -> dict:
  """{(importing folder, imported folder): [the importing modules]}, across folders, every
  import counted (at module level and inside functions)."""
  edges = {}
  for module, imported in graph.items():
    for target in imported:
      a, b = _folder(module), _folder(target)
      if a and b and a != b:
        edges.setdefault((a, b), []).append(module)
  return edges


def test_every_folder_stands_on_a_floor_and_imports_run_down():
  graph = _graph()
  folders = {_folder(m) for m in graph} - {None, "command"}
  assert folders <= set(FLOORS), f"place {sorted(folders - set(FLOORS))} on a floor"
  upward = {f"{a} -> {b}: {sorted(set(modules))}"
            for (a, b), modules in _folder_imports(graph).items() if _floor(a) < _floor(b)}
  assert not upward, upward


def test_the_folders_import_each_other_without_a_loop():
  edges = _folder_imports(_graph())
  after = {}
  for a, b in edges:
    after.setdefault(a, set()).add(b)
  done, on_path = set(), []

  def visit(folder):
    if folder in on_path:
      raise AssertionError(" -> ".join(on_path[on_path.index(folder):] + [folder]) + ": "
                           + str({k: sorted(set(v)) for k, v in edges.items()
                                  if k[0] in on_path and k[1] in on_path}))
    if folder in done:
      return
    on_path.append(folder)
    for target in sorted(after.get(folder, ())):
      visit(target)
    on_path.pop()
    done.add(folder)

  for folder in sorted(after):
    visit(folder)


def test_no_model_family_is_named_in_a_comparison_outside_models():
  # Family knowledge lives in its family (lenet_jax/models/): the core asks through the
  # model contract (lenet_jax/models/registry.py), never `config.model.name == "alexnet"`.
  from lenet_jax import models
  names = set(models.names())
  found = []
  for path in glob.glob(os.path.join(PACKAGE, "**", "*.py"), recursive=True):
    if os.path.relpath(path, PACKAGE).startswith("models" + os.sep):
      continue
    with open(path) as f:
      tree = ast.parse(f.read())
    for node in ast.walk(tree):
      if isinstance(node, ast.Compare):
        operands = [node.left, *node.comparators]
        constants = [o.value for o in operands if isinstance(o, ast.Constant)]
        constants += [e.value for o in operands if isinstance(o, (ast.Tuple, ast.List, ast.Set))
                      for e in o.elts if isinstance(e, ast.Constant)]
        if names & set(constants):
          found.append(f"{os.path.relpath(path, ROOT)}:{node.lineno}")
  assert not found, found

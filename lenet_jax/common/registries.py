"""The registries' one way of finding what registers itself: a package whose modules each
register a kind of thing (lenet_jax/models: model families; lenet_jax/data: data sources)
is imported module by module, once per process, the first time its registry is asked."""

import importlib
import pkgutil

_IMPORTED = set()  # the packages whose every module has been imported


def import_every_module(package_name: str) -> None:
  """Imports each module of the package `package_name`, in name order, once."""
  if package_name in _IMPORTED:
    return
  _IMPORTED.add(package_name)
  package = importlib.import_module(package_name)
  for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda i: i.name):
    importlib.import_module(f"{package_name}.{info.name}")

"""Names of the leaves of a model's variable trees."""


def path_name(path) -> str:
  """'fc8.kernel' for a leaf's tree path (the keys and attribute names along it, without
  nnx's 'value')."""
  parts = [str(getattr(k, "key", getattr(k, "name", k))) for k in path]
  return ".".join(p for p in parts if p != "value")

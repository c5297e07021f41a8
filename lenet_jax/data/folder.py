"""An image-folder tree, the layout most ImageNet copies have on disk:
`DIR/train/<class>/*` and `DIR/val/<class>/*` (or `validation/`), classes from the
sorted folder names of the training split."""

import os

from lenet_jax.common.errors import UserError

# The prepared splits' names (TFDS's for imagenet2012) and the folders that hold them.
SPLIT_FOLDERS = {"train": ("train",), "validation": ("val", "validation")}
IMAGE_EXTENSIONS = (".jpeg", ".jpg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm")


def split_dir(root: str, split: str) -> str:
  for name in SPLIT_FOLDERS[split]:
    path = os.path.join(root, name)
    if os.path.isdir(path):
      return path
  raise UserError(f"config.data.dir={root!r} has no {' or '.join(SPLIT_FOLDERS[split])}/ folder "
                  "of class folders; expected DIR/train/<class>/* and DIR/val/<class>/*")


def classes(root: str) -> list[str]:
  """The class names: the sorted folder names under the training split."""
  train = split_dir(root, "train")
  names = sorted(e.name for e in os.scandir(train) if e.is_dir())
  if not names:
    raise UserError(f"{train} holds no class folders; expected {train}/<class>/*")
  return names


def listing(root: str, split: str, class_names: list[str]) -> list[tuple[str, int]]:
  """(path, label) of every image file of `split`, sorted by class then file name:
  the order the prepared set keeps."""
  base = split_dir(root, split)
  found = sorted(e.name for e in os.scandir(base) if e.is_dir())
  unknown = sorted(set(found) - set(class_names))
  if unknown:
    raise UserError(f"{base} has class folders the training split lacks: "
                    f"{', '.join(unknown[:5])}{' ...' if len(unknown) > 5 else ''}")
  items = []
  for label, name in enumerate(class_names):
    folder = os.path.join(base, name)
    if not os.path.isdir(folder):
      continue  # a class with no images in this split
    files = sorted(e.name for e in os.scandir(folder)
                   if e.is_file() and e.name.lower().endswith(IMAGE_EXTENSIONS))
    items.extend((os.path.join(folder, f), label) for f in files)
  if not items:
    raise UserError(f"{base} holds no image files ({', '.join(IMAGE_EXTENSIONS)})")
  return items


def read(path: str):
  """The file's encoded bytes (decoded by content, not by extension: ImageNet has a PNG
  and CMYK JPEGs named .JPEG)."""
  with open(path, "rb") as f:
    return f.read()


def _register():
  from lenet_jax.data import sources

  def located(data_config, spec, splits):
    raise UserError("an image folder is not read during training: prepare it once with "
                    "python -m lenet_jax.prepare --config.data.source=folder --out=DIR, then "
                    "train with --config.data.source=prepared --config.data.dir=DIR")

  sources.register(sources.Source(
      "folder", locate=located, streaming_keys=True,
      serves=lambda spec: None if spec.streamed else (
          "an image folder is prepared as a set of photographs at 256x256 (lenet_jax.prepare), "
          f"named imagenet2012 or imagenette (any class folders); {spec.name} is read whole "
          "from IDX files or TFDS")))


_register()

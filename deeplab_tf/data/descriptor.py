"""A user's dataset described in one JSON file (`--dataset=PATH/dataset.json`), read into the
same DatasetInfo as the built-in datasets, so nothing in the package needs editing.

    {"name": "roads", "class_names": ["sky", "road", "car"], "ignore_label": 255,
     "label_format": "rgb", "palette": [[128, 128, 128], [128, 64, 128], [64, 0, 128]],
     "ignore_color": [0, 0, 0], "splits": {"train": "train.txt", "val": "val.txt"}}

Each split's list file has one "IMAGE LABEL" line per example, paths relative to the
descriptor's folder (an absolute path is resolved against that folder too: see
sources.list_examples). label_format "index": 8-bit PNGs holding class indices 0..C-1 and
ignore_label; "rgb": colour-coded PNGs, one palette colour per class, ignore_color (optional)
for ignored pixels. Every problem is a DescriptorError naming the file, the key and the value.
"""
import json
import os

from deeplab_tf.data.datasets import IGNORE_LABEL, DatasetInfo, index_label_map, voc_colormap

REQUIRED = ("name", "class_names", "splits")
OPTIONAL = ("ignore_label", "label_format", "palette", "ignore_color", "train_splits",
            "description")
LABEL_FORMATS = ("index", "rgb")


class DescriptorError(ValueError):
    """A dataset.json that cannot be used; the message names the file, the key and the value."""


def _color(path, key, value):
    if (not isinstance(value, (list, tuple)) or len(value) != 3
            or not all(isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 255
                       for v in value)):
        raise DescriptorError(f"{path}: {key} has {json.dumps(value)}; expected [r, g, b] "
                              "with integers 0..255")
    return tuple(value)


def _read_json(path):
    if not os.path.isfile(path):
        raise DescriptorError(f"--dataset={path}: no such dataset.json file")
    try:
        with open(path, encoding="utf-8") as f:
            spec = json.load(f)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise DescriptorError(f"{path}: not a JSON file ({error})") from None
    if not isinstance(spec, dict):
        raise DescriptorError(f"{path}: expected a JSON object with keys {list(REQUIRED)}")
    return spec


def _class_names(path, spec):
    names = spec["class_names"]
    if (not isinstance(names, list) or not names
            or not all(isinstance(n, str) and n.strip() for n in names)):
        raise DescriptorError(f"{path}: class_names has {json.dumps(names)}; expected a "
                              "non-empty list of class names")
    if len(set(names)) != len(names):
        raise DescriptorError(f"{path}: class_names lists a name twice: {json.dumps(names)}")
    if len(names) > 255:
        raise DescriptorError(f"{path}: class_names has {len(names)} classes; at most 255 fit "
                              "8-bit labels beside the ignore label")
    return tuple(names)


def _splits(path, spec):
    splits = spec["splits"]
    if not isinstance(splits, dict) or not splits:
        raise DescriptorError(f"{path}: splits has {json.dumps(splits)}; expected "
                              '{"SPLIT": "LIST FILE", ...}')
    for split, list_file in splits.items():
        if not split or not all(c.isalnum() or c in "_-" for c in split):
            raise DescriptorError(f"{path}: split name {split!r} must be letters, digits, _ "
                                  "or - (it names the shard files)")
        if not isinstance(list_file, str) or not list_file:
            raise DescriptorError(f"{path}: splits.{split} has {json.dumps(list_file)}; "
                                  "expected the path of a list file")
        parts = list_file.replace("\\", "/").split("/")
        if list_file.startswith(("/", "\\")) or ".." in parts or ":" in list_file or \
                "\x00" in list_file:
            raise DescriptorError(f"{path}: splits.{split} is {list_file!r}; list files must be "
                                  "relative paths inside the descriptor's folder")
    train = spec.get("train_splits", [s for s in ("train", "trainval") if s in splits])
    if not isinstance(train, list) or any(s not in splits for s in train):
        raise DescriptorError(f"{path}: train_splits has {json.dumps(train)}; expected a list "
                              f"of split names among {sorted(splits)}")
    return dict(splits), tuple(train)


def load_descriptor(path) -> DatasetInfo:
    """The DatasetInfo described by the dataset.json at `path` (DescriptorError if unusable)."""
    spec = _read_json(path)
    missing = [k for k in REQUIRED if k not in spec]
    if missing:
        raise DescriptorError(f"{path}: missing key(s) {missing}; a dataset.json needs "
                              f"{list(REQUIRED)} (optional: {list(OPTIONAL)})")
    unknown = sorted(set(spec) - set(REQUIRED) - set(OPTIONAL))
    if unknown:
        raise DescriptorError(f"{path}: unknown key(s) {unknown}; allowed: "
                              f"{list(REQUIRED) + list(OPTIONAL)}")
    name = spec["name"]
    if not isinstance(name, str) or not name.strip():
        raise DescriptorError(f"{path}: name has {json.dumps(name)}; expected a dataset name")
    class_names = _class_names(path, spec)
    splits, train_splits = _splits(path, spec)
    label_format = spec.get("label_format", "index")
    if label_format not in LABEL_FORMATS:
        raise DescriptorError(f"{path}: label_format has {json.dumps(label_format)}; expected "
                              f"one of {list(LABEL_FORMATS)}")
    ignore = spec.get("ignore_label", IGNORE_LABEL)
    if (not isinstance(ignore, int) or isinstance(ignore, bool)
            or not len(class_names) <= ignore <= 255):
        raise DescriptorError(f"{path}: ignore_label has {json.dumps(ignore)}; expected an "
                              f"integer {len(class_names)}..255 (not a class index)")
    palette = spec.get("palette")
    if palette is None:
        if label_format == "rgb":
            raise DescriptorError(f"{path}: label_format \"rgb\" needs palette, one [r, g, b] "
                                  "per class")
        palette = voc_colormap(len(class_names))
    else:
        if not isinstance(palette, list) or len(palette) != len(class_names):
            raise DescriptorError(
                f"{path}: palette has {len(palette) if isinstance(palette, list) else palette!r}"
                f" entries; expected one [r, g, b] per class ({len(class_names)})")
        palette = tuple(_color(path, f"palette[{i}]", c) for i, c in enumerate(palette))
        if label_format == "rgb" and len(set(palette)) != len(palette):
            raise DescriptorError(f"{path}: palette gives two classes the same colour; rgb "
                                  "labels need one colour per class")
    ignore_color = spec.get("ignore_color")
    if ignore_color is not None:
        if label_format != "rgb":
            raise DescriptorError(f"{path}: ignore_color is for label_format \"rgb\"; index "
                                  "labels use ignore_label")
        ignore_color = _color(path, "ignore_color", ignore_color)
        if ignore_color in palette:
            raise DescriptorError(f"{path}: ignore_color {list(ignore_color)} is also the "
                                  f"colour of class {class_names[palette.index(ignore_color)]}")
    root = os.path.dirname(os.path.abspath(path))
    return DatasetInfo(
        name=name, class_names=class_names, palette=palette,
        splits={s: None for s in splits}, default_splits=tuple(splits),
        train_splits=train_splits, reader="lists", split_lists=splits, root=root,
        layout=f"the \"IMAGE LABEL\" lists of {path}", label_format=label_format,
        raw_label_values=tuple(range(len(class_names))), raw_ignore_label=ignore,
        label_map=(index_label_map(len(class_names), ignore)
                   if label_format == "index" and ignore != IGNORE_LABEL else None),
        ignore_color=ignore_color)

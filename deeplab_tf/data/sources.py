"""Finds the examples of each split in the dataset's raw layout (DatasetInfo.reader, layout).

READERS maps a DatasetInfo.reader to its function: the VOC devkit (and SBD) folders, the
Cityscapes folders, and "IMAGE LABEL" list files (CamVid as the SegNet tutorial ships it, and
every dataset.json). An Example names its image and label files; a missing file is kept as None so that validation
(prepare.py) reports it with the other problems instead of stopping at the first one.
"""
import dataclasses
import glob
import os
from typing import List, Optional

from deeplab_tf.paths import check_id
from deeplab_tf.data.datasets import DatasetInfo, get_dataset


class LayoutError(ValueError):
    """The data folder does not hold the expected layout (or a split list is missing/empty)."""


@dataclasses.dataclass(frozen=True)
class Example:
    id: str
    image_path: Optional[str]
    label_path: Optional[str]
    expected_image: str = ""   # where the image was looked for (for error messages)
    expected_label: str = ""


def _find_dir(roots, candidates, must_contain):
    """First root/candidate folder that holds every name in `must_contain`."""
    for root in roots:
        for candidate in candidates:
            folder = os.path.normpath(os.path.join(root, candidate))
            if os.path.isdir(folder) and all(
                    os.path.exists(os.path.join(folder, m)) for m in must_contain):
                return folder
    return None


def _read_split_file(path):
    if not os.path.isfile(path):
        raise LayoutError(f"split file {path} is missing (expected one image id per line)")
    ids, line_of = [], {}
    with open(path, encoding="utf-8", errors="replace") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            image_id = check_id(line.split()[0], f"{path}:{number}")
            if image_id in line_of:
                raise LayoutError(f"{path}:{number}: image id {image_id!r} is already listed "
                                  f"on line {line_of[image_id]}")
            line_of[image_id] = number
            ids.append(image_id)
    if not ids:
        raise LayoutError(f"split file {path} is empty (expected one image id per line)")
    return ids


def _first_existing(paths):
    return next((p for p in paths if os.path.isfile(p)), None)


def voc_root(roots, dataset="voc2012"):
    info = dataset if isinstance(dataset, DatasetInfo) else get_dataset(dataset)
    root = _find_dir(roots, info.layout_dirs, ("JPEGImages", "ImageSets/Segmentation"))
    if root is None:
        raise LayoutError(f"no {info.name} folder layout found under {', '.join(roots)}; "
                          f"expected {info.layout}")
    return root


def _voc_example(root, image_id, sbd_root=None):
    """The image and label of `image_id`: VOC files first, SBD (.mat) when VOC has none."""
    images = [os.path.join(root, "JPEGImages", image_id + ".jpg")]
    labels = [os.path.join(root, d, image_id + ".png")
              for d in ("SegmentationClass", "SegmentationClassRaw")]
    if sbd_root:
        images.append(os.path.join(sbd_root, "img", image_id + ".jpg"))
        labels.append(os.path.join(sbd_root, "cls", image_id + ".mat"))
    return Example(image_id, _first_existing(images), _first_existing(labels),
                   expected_image=" or ".join(images), expected_label=" or ".join(labels))


def voc_examples(roots, split, dataset="voc2012"):
    root = voc_root(roots, dataset)
    ids = _read_split_file(os.path.join(root, "ImageSets", "Segmentation", split + ".txt"))
    return [_voc_example(root, i) for i in ids]


def voc_aug_examples(roots, split):
    """train_aug = (VOC train + SBD train + SBD val) - VOC val (official: 10,582 images)."""
    root = voc_root(roots)
    segmentation_lists = os.path.join(root, "ImageSets", "Segmentation")
    val_ids = _read_split_file(os.path.join(segmentation_lists, "val.txt"))
    if split == "val":
        return [_voc_example(root, i) for i in val_ids]
    if split != "train_aug":
        raise LayoutError(f"voc2012_aug has splits train_aug and val, not {split!r}")
    sbd = _find_dir(roots, ("benchmark_RELEASE/dataset", "dataset", "."), ("cls", "train.txt"))
    if sbd is None:
        raise LayoutError(f"no SBD layout found under {', '.join(roots)}; expected "
                          "benchmark_RELEASE/dataset/{img,cls,train.txt,val.txt} "
                          "(from benchmark.tgz)")
    ids = set(_read_split_file(os.path.join(segmentation_lists, "train.txt")))
    ids |= set(_read_split_file(os.path.join(sbd, "train.txt")))
    ids |= set(_read_split_file(os.path.join(sbd, "val.txt")))
    ids -= set(val_ids)
    return [_voc_example(root, i, sbd) for i in sorted(ids)]


def cityscapes_examples(roots, split):
    images = _find_dir(roots, ("leftImg8bit",), ())
    labels = _find_dir(roots, ("gtFine",), ())
    if images is None or labels is None:
        raise LayoutError(f"no Cityscapes layout found under {', '.join(roots)}; expected "
                          f"{get_dataset('cityscapes').layout}")
    split_dir = os.path.join(images, split)
    if not os.path.isdir(split_dir):
        raise LayoutError(f"split folder {split_dir} is missing")
    paths = sorted(glob.glob(os.path.join(split_dir, "*", "*_leftImg8bit.png")))
    if not paths:
        raise LayoutError(f"split folder {split_dir} has no CITY/*_leftImg8bit.png images")
    examples = []
    for path in paths:
        base = check_id(os.path.basename(path)[:-len("_leftImg8bit.png")], path)
        city = os.path.basename(os.path.dirname(path))
        label = os.path.join(labels, split, city, base + "_gtFine_labelIds.png")
        examples.append(Example(base, path, label if os.path.isfile(label) else None,
                                expected_image=path, expected_label=label))
    return examples


def _list_root(info: DatasetInfo, roots, list_file):
    if info.root is not None:
        return info.root
    root = _find_dir(roots, info.layout_dirs, (list_file,))
    if root is None:
        raise LayoutError(f"no {info.name} layout found under {', '.join(roots)} (no "
                          f"{list_file}); expected {info.layout}")
    return root


def _entry_parts(entry, where):
    """The path components of one list entry; '..' (a way out of the root) is refused."""
    parts = [p for p in entry.replace("\\", "/").split("/") if p not in ("", ".")]
    if not parts or ".." in parts:
        raise LayoutError(f"{where}: path {entry!r} leaves the dataset folder (or is empty); "
                          "list paths must stay inside it")
    return parts


def _resolve(root, entry, where):
    """A list entry -> (path or None, what was looked for). Relative entries are taken from
    `root`; an absolute one (the SegNet tutorial writes /SegNet/CamVid/train/X.png) is the
    longest tail of it that exists under `root`."""
    parts = _entry_parts(entry, where)
    if not (entry.startswith("/") or entry.startswith("\\") or ":" in parts[0]):
        path = os.path.join(root, *parts)
        return (path if os.path.isfile(path) else None), path
    if ":" in parts[0]:   # a Windows drive letter: C:/data/x.png
        parts = parts[1:]
    for i in range(len(parts)):
        path = os.path.join(root, *parts[i:])
        if os.path.isfile(path):
            return path, path
    return None, f"{entry} resolved against {root}"


def list_examples(info: DatasetInfo, roots, split):
    """Examples of a split from its list file of "IMAGE LABEL" lines; ids are image stems."""
    if split not in info.split_lists:
        raise LayoutError(f"dataset {info.name} has splits {sorted(info.split_lists)}, not "
                          f"{split!r}")
    root = _list_root(info, roots, info.split_lists[split])
    list_path = os.path.join(root, info.split_lists[split])
    if not os.path.isfile(list_path):
        raise LayoutError(f"split list {list_path} of {info.name} is missing (expected one "
                          "\"IMAGE LABEL\" line per example)")
    examples, lines_of = [], {}
    with open(list_path, encoding="utf-8", errors="replace") as f:
        for number, line in enumerate(f, 1):
            fields = line.split()
            if not fields:
                continue
            where = f"{list_path}:{number}"
            if len(fields) != 2:
                raise LayoutError(f"{where}: expected \"IMAGE LABEL\" (two paths), got "
                                  f"{line.strip()!r}")
            image, expected_image = _resolve(root, fields[0], where)
            label, expected_label = _resolve(root, fields[1], where)
            image_id = check_id(os.path.splitext(_entry_parts(fields[0], where)[-1])[0],
                                      where)
            if image_id in lines_of:
                raise LayoutError(f"{where}: image {image_id!r} is already listed on line "
                                  f"{lines_of[image_id]}")
            lines_of[image_id] = number
            examples.append(Example(image_id, image, label, expected_image=expected_image,
                                    expected_label=expected_label))
    if not examples:
        raise LayoutError(f"split list {list_path} is empty (expected one \"IMAGE LABEL\" "
                          "line per example)")
    return examples


READERS = {
    "voc": lambda info, roots, split: voc_examples(roots, split, info),
    "voc_aug": lambda info, roots, split: voc_aug_examples(roots, split),
    "cityscapes": lambda info, roots, split: cityscapes_examples(roots, split),
    "lists": list_examples,
}


def find_examples(dataset, roots, split) -> List[Example]:
    """The examples of `split` of `dataset` (a name, a dataset.json path or a DatasetInfo),
    searching the folders `roots` in order (a descriptor's own folder instead)."""
    info = dataset if isinstance(dataset, DatasetInfo) else get_dataset(dataset)
    return READERS[info.reader](info, roots, split)

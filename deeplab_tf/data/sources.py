"""Finds the examples of each split in the official folder layouts (see datasets.py layouts).

An Example names its image and label files; a missing file is kept as None so that validation
(prepare.py) reports it with the other problems instead of stopping at the first one.
"""
import dataclasses
import glob
import os
from typing import List, Optional

from deeplab_tf.data.datasets import get_dataset

DEFAULT_SPLITS = {"voc2012": ("train", "val"), "voc2012_aug": ("train_aug", "val"),
                  "cityscapes": ("train", "val"), "synthetic": ("train", "val")}


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
    with open(path) as f:
        ids = [line.split()[0] for line in f if line.strip()]
    if not ids:
        raise LayoutError(f"split file {path} is empty (expected one image id per line)")
    return ids


def _first_existing(paths):
    return next((p for p in paths if os.path.isfile(p)), None)


def voc_root(roots, dataset="voc2012"):
    candidates = ("VOCdevkit/VOC2012", "VOC2012", ".") if dataset != "synthetic" else (
        "synthetic", ".")
    root = _find_dir(roots, candidates, ("JPEGImages", "ImageSets/Segmentation"))
    if root is None:
        raise LayoutError(f"no {dataset} folder layout found under {', '.join(roots)}; "
                          f"expected {get_dataset(dataset).layout}")
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
        base = os.path.basename(path)[:-len("_leftImg8bit.png")]
        city = os.path.basename(os.path.dirname(path))
        label = os.path.join(labels, split, city, base + "_gtFine_labelIds.png")
        examples.append(Example(base, path, label if os.path.isfile(label) else None,
                                expected_image=path, expected_label=label))
    return examples


def find_examples(dataset, roots, split) -> List[Example]:
    """The examples of `split` of `dataset`, searching the folders `roots` in order."""
    if dataset in ("voc2012", "synthetic"):
        return voc_examples(roots, split, dataset)
    if dataset == "voc2012_aug":
        return voc_aug_examples(roots, split)
    if dataset == "cityscapes":
        return cityscapes_examples(roots, split)
    get_dataset(dataset)  # raises the clear unknown-dataset error
    raise ValueError(f"dataset {dataset!r} has no raw layout reader")

"""Reads and checks one raw example (image + label files) before anything is written.

Labels become class-index arrays here: VOC palette PNGs are decoded with PIL, which returns the
palette indices (tf.io.decode_png would return grey levels of the palette colours instead; see
the official remove_gt_colormap.py), grey PNGs are taken as indices, SBD .mat files are read with
scipy, and dataset id maps (Cityscapes labelId -> trainId) are applied with a lookup table.
"""
import dataclasses
import io

import numpy as np
from PIL import Image

from deeplab_tf.data.datasets import DatasetInfo
from deeplab_tf.data.sources import Example

_IMAGE_FORMATS = {"JPEG": "jpeg", "PNG": "png"}


class BadExample(ValueError):
    """One example cannot be used; the message names the offending file."""


@dataclasses.dataclass(frozen=True)
class CheckedExample:
    id: str
    image_path: str
    image_format: str
    height: int
    width: int
    label_png: bytes   # single-channel PNG of class indices (255 = ignore)


def read_image(path):
    """(format, height, width) of an image file, decoding it fully to catch corruption."""
    try:
        with Image.open(path) as image:
            image.load()
            fmt, (width, height), mode = image.format, image.size, image.mode
    except FileNotFoundError:
        raise BadExample(f"{path}: image file is missing") from None
    except Exception as error:  # PIL raises many types for corrupt data
        raise BadExample(f"{path}: corrupt or unreadable image ({error})") from None
    if fmt not in _IMAGE_FORMATS:
        raise BadExample(f"{path}: image format {fmt} is not JPEG or PNG")
    if mode not in ("RGB", "L", "P", "RGBA"):
        raise BadExample(f"{path}: image mode {mode} cannot be decoded as RGB")
    return _IMAGE_FORMATS[fmt], height, width


def read_label(path):
    """Class-index array [H, W] uint8 from a palette/grey PNG or an SBD .mat file."""
    if path.endswith(".mat"):
        import scipy.io  # only voc2012_aug needs it
        try:
            gt = scipy.io.loadmat(path, squeeze_me=True, struct_as_record=False)["GTcls"]
            return np.asarray(gt.Segmentation, dtype=np.uint8)
        except Exception as error:
            raise BadExample(f"{path}: unreadable SBD label .mat "
                             f"(expected GTcls.Segmentation) ({error})") from None
    try:
        with Image.open(path) as label:
            label.load()
            if label.mode not in ("P", "L"):
                raise BadExample(f"{path}: label PNG mode is {label.mode}; expected a palette "
                                 "(P) or grey (L) PNG of class indices")
            # Mode P: np.asarray gives the palette indices, i.e. the class indices.
            return np.asarray(label, dtype=np.uint8)
    except BadExample:
        raise
    except FileNotFoundError:
        raise BadExample(f"{path}: label file is missing") from None
    except Exception as error:
        raise BadExample(f"{path}: corrupt or unreadable label PNG ({error})") from None


def encode_label_png(label):
    """A single-channel (mode L) PNG of the class indices; deterministic bytes."""
    buffer = io.BytesIO()
    Image.fromarray(np.asarray(label, np.uint8), mode="L").save(buffer, format="PNG")
    return buffer.getvalue()


def check_example(example: Example, info: DatasetInfo) -> CheckedExample:
    """Decodes and checks one example; BadExample naming the file on any problem."""
    if example.image_path is None:
        raise BadExample(f"{example.expected_image}: image of {example.id!r} is missing")
    if example.label_path is None:
        raise BadExample(f"{example.image_path}: image has no label "
                         f"(looked for {example.expected_label})")
    image_format, height, width = read_image(example.image_path)
    label = read_label(example.label_path)
    if label.shape != (height, width):
        raise BadExample(f"{example.label_path}: label is {label.shape[1]}x{label.shape[0]} "
                         f"but its image {example.image_path} is {width}x{height} (WxH)")
    allowed = np.zeros(256, bool)
    allowed[list(info.raw_label_values)] = True
    allowed[info.ignore_label] = True
    values = np.unique(label)
    bad = values[~allowed[values]]
    if bad.size:
        raise BadExample(
            f"{example.label_path}: label values {bad.tolist()} are outside the "
            f"{info.name} label values {min(info.raw_label_values)}..."
            f"{max(info.raw_label_values)} and {info.ignore_label}")
    if info.label_map is not None:
        label = np.asarray(info.label_map, np.uint8)[label]
    return CheckedExample(example.id, example.image_path, image_format, height, width,
                          encode_label_png(label))

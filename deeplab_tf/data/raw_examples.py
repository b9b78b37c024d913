"""Reads and checks one raw example (image + label files) before anything is written.

Labels become class-index arrays here: VOC palette PNGs are decoded with PIL, which returns the
palette indices (tf.io.decode_png would return grey levels of the palette colours instead; see
the official remove_gt_colormap.py), grey PNGs are taken as indices, SBD .mat files are read with
scipy, colour-coded PNGs (label_format "rgb") are mapped through the dataset's palette, and
dataset id maps (Cityscapes labelId -> trainId, CamVid's Unlabelled -> 255) are applied with a
lookup table. Each checked example carries its per-class pixel counts (label statistics).
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
    class_pixels: tuple = ()   # pixels of each class in this label


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


def read_rgb_label(path, info: DatasetInfo):
    """Class-index array [H, W] uint8 of a colour-coded label PNG (palette colour -> class,
    ignore_color -> 255); a colour outside both is a BadExample naming the file and colour."""
    try:
        with Image.open(path) as label:
            label.load()
            rgb = np.asarray(label.convert("RGB"), dtype=np.uint8)
    except FileNotFoundError:
        raise BadExample(f"{path}: label file is missing") from None
    except Exception as error:
        raise BadExample(f"{path}: corrupt or unreadable label PNG ({error})") from None
    codes = (rgb[..., 0].astype(np.int64) << 16) | (rgb[..., 1].astype(np.int64) << 8) | rgb[..., 2]
    colors = [(r << 16) | (g << 8) | b for r, g, b in info.palette]
    values = colors + ([(info.ignore_color[0] << 16) | (info.ignore_color[1] << 8)
                        | info.ignore_color[2]] if info.ignore_color else [])
    indices = list(range(len(colors))) + [info.ignore_label] * (len(values) - len(colors))
    order = np.argsort(values)
    sorted_values = np.asarray(values)[order]
    position = np.clip(np.searchsorted(sorted_values, codes), 0, len(values) - 1)
    known = sorted_values[position] == codes
    if not known.all():
        unknown = np.unique(codes[~known])
        shown = ", ".join(f"[{c >> 16}, {(c >> 8) & 255}, {c & 255}]" for c in unknown[:5])
        more = f" and {unknown.size - 5} more" if unknown.size > 5 else ""
        raise BadExample(f"{path}: label colour(s) {shown}{more} are not in the {info.name} "
                         "palette" + (" nor its ignore_color" if info.ignore_color else ""))
    return np.asarray(indices, np.uint8)[order][position]


def read_class_label(path, info: DatasetInfo):
    """The class-index array [H, W] uint8 (255 = ignore) of a raw label file of `info`: colour
    PNGs through the palette, index files checked against the dataset's raw label values and
    mapped (Cityscapes labelId -> trainId, CamVid Unlabelled -> 255). BadExample names the
    file and the offending values."""
    if info.label_format == "rgb":
        return read_rgb_label(path, info)
    label = read_label(path)
    allowed = np.zeros(256, bool)
    allowed[list(info.raw_label_values)] = True
    allowed[info.raw_ignore_label] = True
    values = np.unique(label)
    bad = values[~allowed[values]]
    if bad.size:
        raise BadExample(
            f"{path}: label values {bad.tolist()} are outside the {info.name} label values "
            f"{min(info.raw_label_values)}...{max(info.raw_label_values)} and "
            f"{info.raw_ignore_label}")
    if info.label_map is not None:
        label = np.asarray(info.label_map, np.uint8)[label]
    return label


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
    label = read_class_label(example.label_path, info)
    if label.shape != (height, width):
        raise BadExample(f"{example.label_path}: label is {label.shape[1]}x{label.shape[0]} "
                         f"but its image {example.image_path} is {width}x{height} (WxH)")
    counts = np.bincount(label.ravel(), minlength=256)[:info.num_classes]
    return CheckedExample(example.id, example.image_path, image_format, height, width,
                          encode_label_png(label), tuple(int(c) for c in counts))

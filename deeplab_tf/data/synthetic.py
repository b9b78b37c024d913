"""The embedded synthetic dataset: textured shapes on textured backgrounds, in the VOC layout.

Classes (datasets.SYNTHETIC_CLASSES): 0 background, 1 disc (dotted), 2 box (striped),
3 triangle (checkered), 4 stick (thin bars, 3-5 px wide). Objects overlap (later ones occlude
earlier ones); colours are jittered per object and backgrounds are smooth noise in muted
colours plus a few distractor blobs, so a model must use colour and texture and shape. Object
boundaries carry a 1-px ignore band (255) as VOC labels do (not around sticks, which are
thinner than that). Everything is a function of the seed, so a dataset is reproducible.

The files are written like VOC 2012 (JPEGImages, SegmentationClass palette PNGs,
ImageSets/Segmentation/{train,val}.txt) and go through the same prepare and pipeline code as
real data; ensure_synthetic() does both in one call.
"""
import json
import os
import shutil

import numpy as np
from PIL import Image, ImageDraw

from deeplab_tf.data.datasets import IGNORE_LABEL, voc_colormap

# Base RGB colours per class: saturated, so they stand apart from the muted backgrounds.
_CLASS_COLORS = {1: (215, 60, 50), 2: (50, 90, 210), 3: (60, 180, 70), 4: (230, 200, 40)}
_PALETTE = [c for rgb in voc_colormap() for c in rgb]


def _smooth_noise(rng, height, width, cells):
    """Low-frequency noise in [0, 1]: bilinear upsampling of a coarse random grid."""
    grid = Image.fromarray((rng.random((cells, cells)) * 255).astype(np.uint8))
    return np.asarray(grid.resize((width, height), Image.BILINEAR), np.float32) / 255.0


def _background(rng, height, width):
    base = rng.uniform(70, 170) + rng.uniform(-25, 25, size=3)   # muted, near grey
    texture = _smooth_noise(rng, height, width, int(rng.integers(3, 8)))
    image = base[None, None, :] * (0.7 + 0.6 * texture[..., None])
    return image + rng.normal(0, 6, size=(height, width, 3))


def _texture(kind, rng, height, width):
    """A [H, W] pattern in [-1, 1] that identifies the class together with its colour."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    period = rng.uniform(5, 9)
    if kind == 1:    # dots
        return np.where((np.sin(xx * 2 * np.pi / period) * np.sin(yy * 2 * np.pi / period))
                        > 0.5, -1.0, 0.3)
    if kind == 2:    # stripes at a random angle
        angle = rng.uniform(0, np.pi)
        return np.sign(np.sin((xx * np.cos(angle) + yy * np.sin(angle)) * 2 * np.pi / period))
    if kind == 3:    # checker
        return np.where(((xx // (period / 2)) + (yy // (period / 2))) % 2 == 0, 0.8, -0.8)
    return rng.normal(0, 0.3, size=(height, width))


def _shape_mask(kind, rng, height, width):
    """Boolean [H, W] mask of one object of class `kind`."""
    canvas = Image.new("L", (width, height), 0)
    draw = ImageDraw.Draw(canvas)
    size = min(height, width)
    cx, cy = rng.uniform(0.1, 0.9) * width, rng.uniform(0.1, 0.9) * height
    r = rng.uniform(0.12, 0.3) * size
    if kind == 1:
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=1)
    elif kind == 2:
        w, h = r * rng.uniform(0.7, 1.4), r * rng.uniform(0.7, 1.4)
        draw.rectangle([cx - w, cy - h, cx + w, cy + h], fill=1)
    elif kind == 3:
        angle = rng.uniform(0, 2 * np.pi)
        points = [(cx + r * 1.2 * np.cos(angle + k * 2 * np.pi / 3),
                   cy + r * 1.2 * np.sin(angle + k * 2 * np.pi / 3)) for k in range(3)]
        draw.polygon(points, fill=1)
    else:            # a stick: one or two thin bars, sometimes crossing
        for _ in range(int(rng.integers(1, 3))):
            angle, length = rng.uniform(0, np.pi), rng.uniform(0.4, 0.9) * size
            dx, dy = np.cos(angle) * length / 2, np.sin(angle) * length / 2
            draw.line([cx - dx, cy - dy, cx + dx, cy + dy], fill=1,
                      width=int(rng.integers(3, 6)))
    return np.asarray(canvas, bool)


def make_example(rng, height, width):
    """(image uint8 [H, W, 3], label uint8 [H, W]) of one synthetic scene."""
    image = _background(rng, height, width)
    label = np.zeros((height, width), np.uint8)
    for _ in range(int(rng.integers(0, 3))):   # distractors: muted blobs, still background
        blob = _shape_mask(1, rng, height, width)
        image[blob] = image[blob] * rng.uniform(0.7, 1.3)
    for _ in range(int(rng.integers(2, 6))):
        kind = int(rng.integers(1, 5))
        mask = _shape_mask(kind, rng, height, width)
        color = np.clip(np.array(_CLASS_COLORS[kind]) + rng.uniform(-35, 35, size=3), 0, 255)
        shade = 1.0 + 0.25 * _texture(kind, rng, height, width)
        image[mask] = color[None, :] * shade[mask][:, None]
        label[mask] = kind
    # 1-px ignore band where two regions meet (right/bottom side), except along sticks.
    def differs(a, b):
        return (a != b) & (a != 4) & (b != 4)
    edge = np.zeros_like(label, bool)
    edge[:, :-1] |= differs(label[:, :-1], label[:, 1:])
    edge[:-1, :] |= differs(label[:-1, :], label[1:, :])
    label[edge] = IGNORE_LABEL
    image += rng.normal(0, 4, size=image.shape)
    return np.clip(image, 0, 255).astype(np.uint8), label


def write_synthetic(root, num_train=400, num_val=100, size=96, seed=0):
    """Writes the dataset in the VOC layout under `root` (JPEGImages, ...); returns root.

    size: int (square) or (height, width). Train and val scenes come from different seeds.
    """
    height, width = (size, size) if isinstance(size, int) else size
    for sub in ("JPEGImages", "SegmentationClass", os.path.join("ImageSets", "Segmentation")):
        os.makedirs(os.path.join(root, sub), exist_ok=True)
    for split_index, (split, count) in enumerate((("train", num_train), ("val", num_val))):
        ids = []
        for i in range(count):
            rng = np.random.default_rng([seed, split_index, i])
            image, label = make_example(rng, height, width)
            image_id = f"synth_{split}_{i:05d}"
            Image.fromarray(image).save(os.path.join(root, "JPEGImages", image_id + ".jpg"),
                                        quality=92)
            png = Image.fromarray(label, mode="P")
            png.putpalette(_PALETTE)
            png.save(os.path.join(root, "SegmentationClass", image_id + ".png"))
            ids.append(image_id)
        with open(os.path.join(root, "ImageSets", "Segmentation", split + ".txt"), "w") as f:
            f.write("\n".join(ids) + "\n")
    return root


def ensure_synthetic(directory, num_train=400, num_val=100, size=96, seed=0, progress=False):
    """Generates and prepares the synthetic dataset under `directory` (once); returns the
    TFRecord folder to use as DataConfig(dataset="synthetic", data_dir=...).

    Layout: directory/raw/synthetic (VOC-style files), directory/tfrecords (shards). A second
    call with the same arguments only checks the recorded parameters.
    """
    from deeplab_tf.data import prepare, records
    params = {"num_train": num_train, "num_val": num_val, "seed": seed,
              "size": list(size) if not isinstance(size, int) else size, "version": 1}
    output = os.path.join(directory, "tfrecords")
    stamp = os.path.join(directory, "synthetic_params.json")
    if os.path.exists(stamp) and os.path.exists(os.path.join(output, records.INFO_FILE)):
        with open(stamp) as f:
            if json.load(f) == params:
                return output
    raw = os.path.join(directory, "raw")
    shutil.rmtree(raw, ignore_errors=True)
    shutil.rmtree(output, ignore_errors=True)
    write_synthetic(os.path.join(raw, "synthetic"), num_train, num_val, size, seed)
    prepare.prepare("synthetic", raw, output, progress=progress)
    with open(stamp, "w") as f:
        json.dump(params, f)
    return output

"""Pictures: colour masks, overlays, class-index PNGs, the confusion-matrix plot, panels.

Palettes are the dataset facts in deeplab_tf.data.datasets (VOC devkit colour map, Cityscapes
train-id colours); this module only applies them. Every function takes numpy arrays:
images uint8 [H, W, 3], labels int [H, W] (255 = ignore).
"""
import numpy as np
from PIL import Image

from deeplab_tf.data.datasets import IGNORE_LABEL


def palette(dataset="voc2012"):
    """uint8 [256, 3]: class index -> RGB colour (255 = the ignore / boundary colour)."""
    from deeplab_tf.data.datasets import get_dataset
    return np.asarray(get_dataset(dataset).label_palette(), np.uint8)


def class_names(dataset="voc2012"):
    from deeplab_tf.data.datasets import get_dataset
    return tuple(get_dataset(dataset).class_names)


def colorize(labels, colours):
    """int [H, W] -> uint8 [H, W, 3] colour mask."""
    labels = np.asarray(labels)
    if labels.min(initial=0) < 0 or labels.max(initial=0) > 255:
        raise ValueError(f"labels must be 0..255 class indices, got {labels.min()}..{labels.max()}")
    return np.asarray(colours, np.uint8)[labels.astype(np.uint8)]


def overlay(image, labels, colours, alpha=0.5):
    """uint8 [H, W, 3]: the image blended with the colour mask (ignored pixels untouched)."""
    image = np.asarray(image, np.float32)
    if image.shape[:2] != np.shape(labels):
        raise ValueError(f"overlay: image {image.shape[:2]} and labels {np.shape(labels)} differ")
    mask = colorize(labels, colours).astype(np.float32)
    out = np.where((np.asarray(labels) != IGNORE_LABEL)[..., None],
                   (1 - alpha) * image + alpha * mask, image)
    return np.clip(np.round(out), 0, 255).astype(np.uint8)


def save_index_png(labels, path, colours=None):
    """Writes a class-index PNG: mode "P" (with the palette, as VOC ships its labels) when
    colours are given, else mode "L". Every pixel value is the class index."""
    labels = np.asarray(labels)
    if labels.min(initial=0) < 0 or labels.max(initial=0) > 255:
        raise ValueError(f"{path}: class indices must fit in 0..255")
    img = Image.fromarray(labels.astype(np.uint8), mode="L")
    if colours is not None:
        img = img.convert("P")
        img.putpalette(np.asarray(colours, np.uint8).reshape(-1).tolist())
    img.save(path)
    return path


def read_index_png(path):
    """int32 [H, W] class indices of a palette ("P") or grey ("L") PNG (PIL gives palette
    indices for "P" files; tf.io.decode_png would give grey levels of the colours)."""
    img = Image.open(path)
    if img.mode not in ("P", "L", "I", "I;16"):
        raise ValueError(f"{path}: label PNG mode {img.mode!r}; expected palette (P) or grey (L)")
    return np.asarray(img, np.int32)


def plot_confusion_matrix(matrix, names, path, title="Confusion matrix (row-normalised)"):
    """PNG of the row-normalised confusion matrix (rows: ground truth, columns: prediction)."""
    from matplotlib.figure import Figure   # no pyplot: the caller's backend stays as it is
    m = np.asarray(matrix, np.float64)
    rows = m.sum(1, keepdims=True)
    norm = np.divide(m, rows, out=np.zeros_like(m), where=rows > 0)
    n = len(names)
    size = max(4.0, 0.4 * n + 2)
    fig = Figure(figsize=(size + 1, size))
    ax = fig.subplots()
    im = ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(n), names, rotation=90, fontsize=8)
    ax.set_yticks(range(n), names, fontsize=8)
    ax.set_xlabel("prediction")
    ax.set_ylabel("ground truth")
    ax.set_title(title)
    if n <= 25:
        for i in range(n):
            for j in range(n):
                if norm[i, j] >= 0.005:
                    ax.text(j, i, f"{100 * norm[i, j]:.0f}", ha="center", va="center",
                            fontsize=6, color="white" if norm[i, j] > 0.5 else "black")
    fig.colorbar(im, ax=ax, fraction=0.046)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    return path


def panel(image, prediction, path, colours, names=None, crf=None, label=None, title=None):
    """One PNG per image: image | prediction | CRF (if given) | ground truth (if given), with
    a legend of the classes present."""
    import matplotlib.patches as mpatches
    from matplotlib.figure import Figure   # no pyplot: the caller's backend stays as it is
    parts = [("image", np.asarray(image, np.uint8)),
             ("prediction", colorize(prediction, colours))]
    present = set(np.unique(prediction))
    if crf is not None:
        parts.append(("CRF", colorize(crf, colours)))
        present |= set(np.unique(crf))
    if label is not None:
        parts.append(("ground truth", colorize(label, colours)))
        present |= set(np.unique(label))
    aspect = parts[0][1].shape[0] / max(parts[0][1].shape[1], 1)
    fig = Figure(figsize=(3.2 * len(parts), 3.2 * min(max(aspect, 0.4), 2.0) + 1.2))
    axes = fig.subplots(1, len(parts))
    for ax, (name, picture) in zip(axes, parts):
        ax.imshow(picture)
        ax.set_title(name)
        ax.axis("off")
    if names is not None:
        handles = [mpatches.Patch(color=np.asarray(colours[c]) / 255.0,
                                  label=names[c] if c < len(names) else "ignore")
                   for c in sorted(int(c) for c in present)]
        fig.legend(handles=handles, loc="lower center", ncol=min(len(handles), 6), fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout(rect=(0, 0.08, 1, 0.93 if title else 1))
    fig.savefig(path, dpi=90)
    return path

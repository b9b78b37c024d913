"""The TFRecord example format written by prepare.py and read by pipeline.py.

Feature keys are those of the official research/deeplab/datasets/build_data.py, so shards made
by the official conversion scripts (with SegmentationClassRaw labels) read the same way.
The prepared folder also holds INFO_FILE (JSON): dataset name, classes and, per split, the
number of examples, the shard files and the examples skipped by --skip_bad_examples.
"""
import json
import os

import tensorflow as tf

INFO_FILE = "deeplab_tf_dataset.json"

IMAGE = "image/encoded"
IMAGE_FORMAT = "image/format"
IMAGE_ID = "image/filename"
HEIGHT = "image/height"
WIDTH = "image/width"
CHANNELS = "image/channels"
LABEL = "image/segmentation/class/encoded"
LABEL_FORMAT = "image/segmentation/class/format"

FEATURES = {
    IMAGE: tf.io.FixedLenFeature((), tf.string),
    IMAGE_FORMAT: tf.io.FixedLenFeature((), tf.string, default_value="jpeg"),
    IMAGE_ID: tf.io.FixedLenFeature((), tf.string, default_value=""),
    HEIGHT: tf.io.FixedLenFeature((), tf.int64),
    WIDTH: tf.io.FixedLenFeature((), tf.int64),
    LABEL: tf.io.FixedLenFeature((), tf.string),
}


def _bytes(value):
    return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value]))


def _int(value):
    return tf.train.Feature(int64_list=tf.train.Int64List(value=[value]))


def encode_example(image_bytes, image_format, label_png, image_id, height, width):
    """Serialized tf.train.Example bytes of one image and its class-index PNG label."""
    feature = {
        IMAGE: _bytes(image_bytes), IMAGE_FORMAT: _bytes(image_format.encode()),
        IMAGE_ID: _bytes(image_id.encode()), HEIGHT: _int(height), WIDTH: _int(width),
        CHANNELS: _int(3), LABEL: _bytes(label_png), LABEL_FORMAT: _bytes(b"png"),
    }
    # deterministic: map fields in key order, so the same input gives the same bytes.
    example = tf.train.Example(features=tf.train.Features(feature=feature))
    return example.SerializeToString(deterministic=True)


def shard_name(split, index, count):
    return f"{split}-{index:05d}-of-{count:05d}.tfrecord"


def read_info(folder):
    """The INFO_FILE of a prepared folder; a clear error when the folder was not prepared."""
    path = os.path.join(folder, INFO_FILE)
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"{folder} is not a prepared dataset folder ({INFO_FILE} is missing); run "
            f"python -m deeplab_tf.data.prepare --dataset=... --output_dir={folder}")
    with open(path) as f:
        return json.load(f)


def split_files(folder, split):
    """Shard paths of `split` in a prepared folder; a clear error naming the known splits."""
    info = read_info(folder)
    if split not in info["splits"]:
        raise ValueError(f"split {split!r} is not prepared in {folder}; prepared splits: "
                         f"{sorted(info['splits'])}")
    files = [os.path.join(folder, name) for name in info["splits"][split]["files"]]
    missing = [f for f in files if not os.path.isfile(f)]
    if missing:
        raise FileNotFoundError(f"shard(s) {missing} of split {split!r} listed in "
                                f"{os.path.join(folder, INFO_FILE)} are missing")
    return files


def _reason(error):
    """The readable part of a tf.errors message (no {{function_node ...}}, no [Op:...])."""
    import re
    text = error.message.strip().splitlines()[-1] if error.message.strip() else ""
    return re.sub(r"\{\{[^}]*\}\}\s*", "", text).split("[Op:")[0].strip()


def first_unreadable_shard(folder):
    """(shard, reason) of the first shard of a prepared folder that does not read to its end
    (a CRC mismatch or a truncation), or None. Run only after a read failed, to name it."""
    names = sorted(n for n in os.listdir(folder) if n.endswith(".tfrecord"))
    for name in names:
        path = os.path.join(folder, name)
        try:
            for _ in tf.data.TFRecordDataset(path):
                pass
        except tf.errors.OpError as error:
            return path, _reason(error)
    return None


def is_read_error(error):
    """True for the errors of reading or decoding records (not of the model's own ops)."""
    if isinstance(error, tf.errors.DataLossError):
        return True
    text = error.message.lower()
    return any(word in text for word in ("decode", "jpeg", "png", "parseexample",
                                         "parse_example", "feature", "image data"))


def describe_read_error(folder, error):
    """One line for a DataLossError / InvalidArgumentError met while reading `folder`."""
    found = first_unreadable_shard(folder) if folder and os.path.isdir(folder) else None
    if found:
        return (f"TFRecord shard {found[0]} is damaged ({found[1]}); prepare the dataset "
                "again (python -m deeplab_tf.data.prepare)")
    reason = _reason(error)
    return (f"a record in {folder} cannot be decoded ({type(error).__name__}: {reason}); "
            "prepare the dataset again (python -m deeplab_tf.data.prepare)")

"""TensorFlow Datasets as the alternative source of build_dataset (DataConfig.source="tfds").

voc2012 / voc2012_aug come from our builder (tfds_voc.py); cityscapes from the TFDS
`cityscapes/semantic_segmentation` builder, which reads leftImg8bit_trainvaltest.zip and
gtFine_trainvaltest.zip from its manual folder (DataConfig.tfds_manual_dir) and yields
labelIds: they are mapped to train ids here with the table of datasets.py. The decoded
examples then go through exactly the same augmentation as TFRecords.
"""
import tensorflow as tf

from deeplab_tf.data.datasets import DATASETS, get_dataset

# The TFDS builder of each dataset that has one (DatasetInfo.tfds_name).
TFDS_NAMES = {name: info.tfds_name for name, info in DATASETS.items() if info.tfds_name}
# What each builder calls its features (image, label, id) and splits, where not ours.
_FEATURES = {"cityscapes/semantic_segmentation": ("image_left", "segmentation_label",
                                                  "image_id")}
_DEFAULT_FEATURES = ("image", "segmentation_mask", "file_name")
_SPLIT_NAMES = {"cityscapes/semantic_segmentation": {"val": "validation"}}


def load(config, split, training, input_context=None):
    """Decoded examples {"image" uint8 [H, W, 3], "label" uint8 [H, W], "id"} of one split."""
    import tensorflow_datasets as tfds
    info = get_dataset(config.dataset)
    if not info.tfds_name:
        raise ValueError(f"dataset {config.dataset!r} has no TFDS source; DataConfig.source="
                         f"'tfds' supports {sorted(TFDS_NAMES)}")
    if info.tfds_name.startswith("voc2012_segmentation/"):
        from deeplab_tf.data import tfds_voc  # noqa: F401  (registers the builder)
    builder = tfds.builder(info.tfds_name, data_dir=config.tfds_data_dir)
    builder.download_and_prepare(download_config=tfds.download.DownloadConfig(
        manual_dir=config.tfds_manual_dir))
    seed = config.seed if config.deterministic else None
    read_config = tfds.ReadConfig(input_context=input_context, shuffle_seed=seed)
    tfds_split = _SPLIT_NAMES.get(info.tfds_name, {}).get(split, split)
    dataset = builder.as_dataset(split=tfds_split, shuffle_files=training,
                                 read_config=read_config)
    image_key, label_key, id_key = _FEATURES.get(info.tfds_name, _DEFAULT_FEATURES)
    # Raw label values (Cityscapes labelIds) -> class indices, as prepare.py does.
    table = tf.constant(info.label_map or tuple(range(256)), tf.uint8)

    def convert(example):
        label = tf.gather(table, tf.cast(example[label_key][:, :, 0], tf.int32))
        return {"image": example[image_key], "label": label, "id": example[id_key]}
    return dataset.map(convert, num_parallel_calls=tf.data.AUTOTUNE)

"""TensorFlow Datasets as the alternative source of build_dataset (DataConfig.source="tfds").

voc2012 / voc2012_aug come from our builder (tfds_voc.py); cityscapes from the TFDS
`cityscapes/semantic_segmentation` builder, which reads leftImg8bit_trainvaltest.zip and
gtFine_trainvaltest.zip from its manual folder (DataConfig.tfds_manual_dir) and yields
labelIds: they are mapped to train ids here with the table of datasets.py. The decoded
examples then go through exactly the same augmentation as TFRecords.
"""
import tensorflow as tf

from deeplab_tf.data.datasets import get_dataset

TFDS_NAMES = {"voc2012": "voc2012_segmentation/voc2012",
              "voc2012_aug": "voc2012_segmentation/voc2012_aug",
              "cityscapes": "cityscapes/semantic_segmentation"}
_SPLIT_NAMES = {"cityscapes": {"val": "validation"}}


def load(config, split, training, input_context=None):
    """Decoded examples {"image" uint8 [H, W, 3], "label" uint8 [H, W], "id"} of one split."""
    import tensorflow_datasets as tfds
    if config.dataset not in TFDS_NAMES:
        raise ValueError(f"dataset {config.dataset!r} has no TFDS source; DataConfig.source="
                         f"'tfds' supports {sorted(TFDS_NAMES)}")
    if config.dataset.startswith("voc"):
        from deeplab_tf.data import tfds_voc  # noqa: F401  (registers the builder)
    builder = tfds.builder(TFDS_NAMES[config.dataset], data_dir=config.tfds_data_dir)
    builder.download_and_prepare(download_config=tfds.download.DownloadConfig(
        manual_dir=config.tfds_manual_dir))
    seed = config.seed if config.deterministic else None
    read_config = tfds.ReadConfig(input_context=input_context, shuffle_seed=seed)
    tfds_split = _SPLIT_NAMES.get(config.dataset, {}).get(split, split)
    dataset = builder.as_dataset(split=tfds_split, shuffle_files=training,
                                 read_config=read_config)
    info = get_dataset(config.dataset)
    if config.dataset == "cityscapes":
        table = tf.constant(info.label_map, tf.uint8)

        def convert(example):
            label = tf.gather(table, tf.cast(example["segmentation_label"][:, :, 0], tf.int32))
            return {"image": example["image_left"], "label": label, "id": example["image_id"]}
    else:
        def convert(example):
            return {"image": example["image"], "label": example["segmentation_mask"][:, :, 0],
                    "id": example["file_name"]}
    return dataset.map(convert, num_parallel_calls=tf.data.AUTOTUNE)

"""The one tf.data input pipeline: read (TFRecords or TFDS) > decode > augment > batch > prefetch.

build_dataset yields dicts:
  "image"  float32 [B, H, W, 3] in 0..255 (not normalised: preprocessing is inside the model)
  "label"  int32 [B, H, W], 255 = ignore
  "height", "width"  int32 [B]: the valid region before padding (padding is bottom/right)
  "id"     string [B]
Training batches are crops of DataConfig.crop_size; evaluation batches are images padded to
DataConfig.eval_crop_size, or (None) to the smallest OS*k+1 crop holding the batch.
"""
import tensorflow as tf

from deeplab_tf.config import DataConfig
from deeplab_tf.data import augment, records

_JPEG_START, _JPEG_END = b"\xff\xd8", b"\xff\xd9"
_PNG_START, _PNG_END = b"\x89PNG\r\n\x1a\n", b"IEND"


def _tail_contains(data, marker, tail=512):
    """True if `marker` (2 or 4 bytes) occurs in the last `tail` bytes of string `data`."""
    length = tf.strings.length(data)
    size = tf.minimum(length, tail)
    window = tf.io.decode_raw(tf.strings.substr(data, length - size, size), tf.uint8)
    window = tf.cast(window, tf.int32)
    found = tf.ones_like(window[len(marker) - 1:], tf.bool)
    for i, byte in enumerate(marker):
        found &= tf.equal(window[i:tf.size(window) - len(marker) + 1 + i], byte)
    return tf.reduce_any(found)


def _complete(data):
    """Cheap check that encoded bytes are a whole JPEG or PNG (catches truncation/garbage)."""
    start8 = tf.strings.substr(data, 0, 8)
    is_png = tf.equal(start8, _PNG_START)
    is_jpeg = tf.equal(tf.strings.substr(data, 0, 2), _JPEG_START)
    return tf.cond(is_png, lambda: _tail_contains(data, _PNG_END),
                   lambda: tf.logical_and(is_jpeg, _tail_contains(data, _JPEG_END)))


def decode_record(serialized, filename):
    """A serialized example -> {"image": uint8 [H, W, 3], "label": uint8 [H, W], "id"}.

    A record whose image or label is not a complete JPEG/PNG, or whose label size differs from
    the image, fails with an error naming its id and shard file.
    """
    features = tf.io.parse_single_example(serialized, records.FEATURES)
    image_id = features[records.IMAGE_ID]
    where = ["record", image_id, "in", filename]
    check = tf.debugging.Assert(
        tf.logical_and(_complete(features[records.IMAGE]), _complete(features[records.LABEL])),
        ["cannot decode", *where, ": image or label is not a complete JPEG/PNG"])
    with tf.control_dependencies([check]):
        data = features[records.IMAGE]
        # decode_jpeg directly when possible: about twice as fast as decode_image here.
        image = tf.cond(tf.io.is_jpeg(data), lambda: tf.io.decode_jpeg(data, channels=3),
                        lambda: tf.io.decode_png(data, channels=3))
        label = tf.io.decode_png(features[records.LABEL], channels=1)[:, :, 0]
    same = tf.reduce_all(tf.equal(tf.shape(image)[:2], tf.shape(label)))
    check = tf.debugging.Assert(same, ["label size differs from image size in", *where])
    with tf.control_dependencies([check]):
        return {"image": tf.identity(image), "label": tf.identity(label), "id": image_id}


def _records(config, split, training, input_context):
    """(serialized, filename) pairs of this input pipeline's share of the split."""
    files = records.split_files(config.data_dir, split)
    seed = config.seed if config.deterministic else None
    dataset = tf.data.Dataset.from_tensor_slices(files)
    pipelines, index = ((input_context.num_input_pipelines, input_context.input_pipeline_id)
                        if input_context else (1, 0))
    shard_files = pipelines > 1 and len(files) >= pipelines
    if shard_files:
        dataset = dataset.shard(pipelines, index)
    if training:
        dataset = dataset.shuffle(len(files), seed=seed)
    dataset = dataset.interleave(
        lambda f: tf.data.TFRecordDataset(f).map(lambda r: (r, f)),
        cycle_length=min(len(files), 8), num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=config.deterministic or None)
    if pipelines > 1 and not shard_files:   # fewer shards than pipelines: split by element
        dataset = dataset.shard(pipelines, index)
    return dataset.map(decode_record, num_parallel_calls=tf.data.AUTOTUNE,
                       deterministic=config.deterministic or None)


def _fill_padding(batch, mean_pixel):
    """Padded batches: every pixel outside an image's valid region becomes the mean pixel."""
    shape = tf.shape(batch["image"])
    rows = tf.range(shape[1])[None, :, None] < batch["height"][:, None, None]
    cols = tf.range(shape[2])[None, None, :] < batch["width"][:, None, None]
    valid = (rows & cols)[..., None]
    batch["image"] = tf.where(valid, batch["image"], tf.constant(mean_pixel, tf.float32))
    return batch


def check_config(config: DataConfig):
    """A ValueError naming the DataConfig field that cannot work, and what was expected."""
    def positive_pair(value):
        return value is not None and len(value) == 2 and all(int(v) == v > 0 for v in value)
    problems = []
    if not positive_pair(config.crop_size):
        problems.append(f"crop_size={config.crop_size!r} (expected two sizes > 0)")
    if config.eval_crop_size is not None and not positive_pair(config.eval_crop_size):
        problems.append(f"eval_crop_size={config.eval_crop_size!r} (expected None or two "
                        "sizes > 0)")
    if not 0 < config.min_scale <= config.max_scale:
        problems.append(f"min_scale={config.min_scale}, max_scale={config.max_scale} "
                        "(expected 0 < min_scale <= max_scale)")
    if config.scale_step < 0:
        problems.append(f"scale_step={config.scale_step} (expected >= 0)")
    if len(config.mean_pixel) != 3:
        problems.append(f"mean_pixel={config.mean_pixel!r} (expected 3 values, RGB)")
    if config.batch_size < 1 or config.shuffle_buffer < 1 or config.output_stride < 1:
        problems.append(f"batch_size={config.batch_size}, shuffle_buffer="
                        f"{config.shuffle_buffer}, output_stride={config.output_stride} "
                        "(expected >= 1)")
    if problems:
        raise ValueError("DataConfig: " + "; ".join(problems))


def build_dataset(config: DataConfig, split, input_context=None, training=None):
    """The batched dataset of `split` for one input pipeline (see the module docstring).

    input_context: tf.distribute.InputContext (distribute_datasets_from_function) -> this
    pipeline reads its share of the shards (or records, if there are fewer shards than
    pipelines) and batches global_batch // replicas. training: augment, shuffle and repeat
    (default: for the dataset's train_splits, e.g. train, train_aug, trainval).
    """
    check_config(config)
    if training is None:
        from deeplab_tf.data.datasets import get_dataset
        training = split in get_dataset(config.dataset).train_splits
    batch_size = (input_context.get_per_replica_batch_size(config.batch_size)
                  if input_context else config.batch_size)
    if config.source == "tfds":
        from deeplab_tf.data import tfds_source
        dataset = tfds_source.load(config, split, training, input_context)
    elif config.source == "tfrecord":
        dataset = _records(config, split, training, input_context)
    else:
        raise ValueError(f"DataConfig.source={config.source!r}; expected 'tfrecord' or 'tfds'")

    options = tf.data.Options()
    options.deterministic = config.deterministic
    if input_context:   # sharded above; stop tf.distribute from sharding again
        options.experimental_distribute.auto_shard_policy = (
            tf.data.experimental.AutoShardPolicy.OFF)
    dataset = dataset.with_options(options)
    seed = config.seed if config.deterministic else None
    if training:
        dataset = dataset.shuffle(config.shuffle_buffer, seed=seed).repeat()
        # One stateless seed [2] per element: augmentation is reproducible when seeded.
        pipeline_id = input_context.input_pipeline_id if input_context else 0
        seeds = tf.data.Dataset.random(
            seed=None if seed is None else seed * 1000003 + pipeline_id).batch(2)
        dataset = tf.data.Dataset.zip(dataset, seeds)

        def train_map(example, element_seed):
            image, label = augment.train_preprocess(
                example["image"], example["label"], element_seed, config.crop_size,
                config.min_scale, config.max_scale, config.scale_step, config.mean_pixel,
                config.ignore_label, config.flip)
            size = tf.constant(config.crop_size, tf.int32)
            return {"image": image, "label": label, "height": size[0], "width": size[1],
                    "id": example["id"]}
        dataset = dataset.map(train_map, num_parallel_calls=tf.data.AUTOTUNE,
                              deterministic=config.deterministic or None)
        # Parallel batching: copying 8 crops of 513x513x3 float32 (25 MB) is not free.
        dataset = dataset.batch(batch_size, drop_remainder=True,
                                num_parallel_calls=tf.data.AUTOTUNE,
                                deterministic=config.deterministic or None)
    else:
        def eval_map(example):
            image, label, height, width = augment.eval_preprocess(
                example["image"], example["label"], config.eval_crop_size,
                config.output_stride, config.mean_pixel, config.ignore_label)
            return {"image": image, "label": label, "height": height, "width": width,
                    "id": example["id"]}
        dataset = dataset.map(eval_map, num_parallel_calls=tf.data.AUTOTUNE,
                              deterministic=config.deterministic or None)
        if config.eval_crop_size is None:
            # Per-image crops are all OS*k+1, so the largest of a batch is too.
            dataset = dataset.padded_batch(
                batch_size, padding_values={"image": 0.0, "label": config.ignore_label,
                                            "height": 0, "width": 0, "id": ""})
            dataset = dataset.map(lambda b: _fill_padding(b, config.mean_pixel))
        else:
            dataset = dataset.batch(batch_size)
    return dataset.prefetch(tf.data.AUTOTUNE)

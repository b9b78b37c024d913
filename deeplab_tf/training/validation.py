"""Checks of the training flags (as configs) before any work starts.

Each failure raises UsageError naming the flag, its value and what was expected; deeplab_tf.train
prints it as one line and exits with code 2.
"""
import math
import os


class UsageError(ValueError):
    """A flag or an input named by a flag is wrong."""


# ---------------------------------------------------------------------------------------------
# Validation: everything that can be checked before TensorFlow does any work
# ---------------------------------------------------------------------------------------------
def validate(configs, train_split, eval_split, prepare_synthetic):
    """Raises UsageError naming the flag, its value and what was expected."""
    from deeplab_tf.training.initialization import parse_init
    from deeplab_tf.training.strategy import check_strategy_name
    t, d, m = configs["train"], configs["data"], configs["model"]
    try:
        check_strategy_name(t.strategy)
    except ValueError as error:
        raise UsageError(str(error)) from None
    positive = {"train_steps": t.train_steps, "train_batch_size": d.batch_size,
                "accumulation_steps": t.accumulation_steps,
                "checkpoint_every": t.checkpoint_every, "log_every": t.log_every,
                "summary_every": t.summary_every, "keep_checkpoints": t.keep_checkpoints}
    for name, value in positive.items():
        if value < 1:
            raise UsageError(f"--{name}={value} must be >= 1")
    if not 0.0 < t.top_k_percent_pixels <= 1.0:
        raise UsageError(f"--top_k_percent_pixels={t.top_k_percent_pixels} must be in (0, 1]")
    if not math.isfinite(t.base_learning_rate) or t.base_learning_rate <= 0:
        raise UsageError(f"--base_learning_rate={t.base_learning_rate} must be a finite "
                         "number > 0")
    for name in ("weight_decay", "momentum", "end_learning_rate"):
        value = getattr(t, name)
        if not math.isfinite(value) or value < 0:
            raise UsageError(f"--{name}={value} must be a finite number >= 0")
    if not t.train_scales or any(s <= 0 for s in t.train_scales):
        raise UsageError(f"--train_scales={list(t.train_scales)} must be positive numbers")
    if t.train_scales[0] != 1.0 and len(t.train_scales) > 1:
        raise UsageError(f"--train_scales={list(t.train_scales)}: the first scale must be 1.0")
    if len(d.crop_size) != 2 or min(d.crop_size) < 1:
        raise UsageError(f"--crop_size={list(d.crop_size)} must be HEIGHT,WIDTH")
    if d.batch_size % t.accumulation_steps:
        raise UsageError(f"--train_batch_size={d.batch_size} is not divisible by "
                         f"--accumulation_steps={t.accumulation_steps}")
    bad_formats = set(configs["export"].formats) - {"saved_model", "tflite"}
    if bad_formats:
        raise UsageError(f"--export_formats has {sorted(bad_formats)}; allowed: saved_model, "
                         "tflite")
    if t.strategy == "tpu" and not t.tpu and not os.environ.get("TPU_NAME"):
        raise UsageError("--strategy=tpu needs --tpu=NAME (or the TPU_NAME variable)")
    try:
        parse_init(t.init)
    except (ValueError, FileNotFoundError) as error:
        raise UsageError(str(error)) from None
    # Preset and overrides (cheap: resolves the configuration, builds nothing).
    from deeplab_tf.data.datasets import get_dataset
    from deeplab_tf.models.builder import model_info
    try:
        dataset = get_dataset(d.dataset)
    except (KeyError, ValueError) as error:
        raise UsageError(f"--dataset: {error}") from None
    num_classes = m.num_classes or dataset.num_classes
    try:
        info = model_info(m.preset, num_classes=num_classes, output_stride=m.output_stride,
                          **m.build_kwargs())
    except ValueError as error:
        raise UsageError(f"--preset/--model_overrides: {error}") from None
    if isinstance(t.class_weights, tuple) and len(t.class_weights) != num_classes:
        raise UsageError(f"--class_weights has {len(t.class_weights)} values; expected "
                         f"{num_classes} (one per class)")
    if not prepare_synthetic and d.source == "tfrecord":   # (tfds checks its own files)
        from deeplab_tf.data import records
        if not d.data_dir:
            raise UsageError("--data_dir is empty: pass the folder of prepared TFRecords "
                             "(python -m deeplab_tf.data.prepare)")
        for split in (train_split, eval_split):
            try:
                records.split_files(d.data_dir, split)
            except (FileNotFoundError, ValueError) as error:
                raise UsageError(f"--data_dir={d.data_dir}: {error}") from None
        prepared = records.read_info(d.data_dir)
        if prepared.get("class_names", list(dataset.class_names)) != list(dataset.class_names):
            raise UsageError(f"--data_dir={d.data_dir} holds {prepared['dataset']} (classes "
                             f"{prepared['class_names']}), not --dataset={d.dataset} "
                             f"(classes {list(dataset.class_names)})")
    elif d.dataset != "synthetic":
        raise UsageError(f"--prepare_synthetic only makes the synthetic dataset, but "
                         f"--dataset={d.dataset}")
    return dataset, info


def resolve_class_weights(weights, data, train_split, num_classes):
    """--class_weights as numbers: a weighting name is computed from the label statistics
    that prepare stored for the training split (deeplab_tf.data.label_stats)."""
    if not isinstance(weights, str):
        return weights
    from deeplab_tf.data import label_stats, records
    flag = f"--class_weights={weights}"
    if data.source != "tfrecord":
        raise UsageError(f"{flag} needs the label statistics of prepared TFRecords "
                         f"(--source=tfrecord), not --source={data.source}")
    split = records.read_info(data.data_dir)["splits"][train_split]
    stats = split.get("label_statistics")
    if not stats:
        raise UsageError(f"{flag}: --data_dir={data.data_dir} has no label statistics for "
                         f"{train_split} (prepared by an older version); prepare it again")
    if len(stats["class_pixels"]) != num_classes:
        raise UsageError(f"{flag}: the statistics of {train_split} have "
                         f"{len(stats['class_pixels'])} classes; the model has {num_classes}")
    try:
        return label_stats.class_weights(weights, stats)
    except ValueError as error:
        raise UsageError(f"{flag}: {error}") from None


def check_replicas(strategy, global_batch, accumulation):
    from deeplab_tf.training.strategy import num_workers
    replicas = strategy.num_replicas_in_sync
    if global_batch % replicas:
        raise UsageError(f"--train_batch_size={global_batch} (global) is not divisible by the "
                         f"{replicas} replicas of the strategy")
    if (global_batch // replicas) % accumulation:
        raise UsageError(f"the per-replica batch {global_batch // replicas} is not divisible "
                         f"by --accumulation_steps={accumulation}")
    return global_batch // num_workers(strategy)

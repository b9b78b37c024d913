"""Checks of the training flags (as configs) before any work starts.

Each failure raises UsageError naming the flag, its value and what was expected; deeplab_tf.train
prints it as one line and exits with code 2.
"""
import math
import os
import re


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
    check_ranges(_TRAIN_RANGES, {**vars_of(t), **vars_of(d),
                                 "train_batch_size": d.batch_size})
    if m.num_classes is not None and m.num_classes < 1:
        raise UsageError(f"--num_classes={m.num_classes} must be >= 1")
    if d.min_scale > d.max_scale:
        raise UsageError(f"--min_scale={d.min_scale} is above --max_scale={d.max_scale}")
    if not t.train_scales or any(not _finite(s) or s <= 0 for s in t.train_scales):
        raise UsageError(f"--train_scales={','.join(map(str, t.train_scales))} must be "
                         "finite numbers > 0")
    if t.train_scales[0] != 1.0 and len(t.train_scales) > 1:
        raise UsageError(f"--train_scales={list(t.train_scales)}: the first scale must be 1.0")
    if len(d.crop_size) != 2 or min(d.crop_size) < 1:
        raise UsageError(f"--crop_size={list(d.crop_size)} must be HEIGHT,WIDTH")
    if os.path.exists(t.model_dir) and not os.path.isdir(t.model_dir):
        raise UsageError(f"--model_dir={t.model_dir} is an existing file; expected a folder "
                         "(a new one, or a run to resume)")
    if "eval" in configs:
        check_eval(configs["eval"])
    if d.batch_size % t.accumulation_steps:
        raise UsageError(f"--train_batch_size={d.batch_size} is not divisible by "
                         f"--accumulation_steps={t.accumulation_steps}")
    bad_formats = set(configs["export"].formats) - {"saved_model", "tflite"}
    if bad_formats:
        raise UsageError(f"--export_formats has {sorted(bad_formats)}; allowed: saved_model, "
                         "tflite")
    if t.strategy == "tpu" and not t.tpu and not os.environ.get("TPU_NAME"):
        raise UsageError("--strategy=tpu needs --tpu=NAME (or the TPU_NAME variable)")
    if t.init_sha256 and not re.fullmatch(r"[0-9a-fA-F]{64}", t.init_sha256):
        raise UsageError(f"--init_sha256={t.init_sha256} must be 64 hexadecimal digits")
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
    stride = info["output_stride"]
    if stride and min(d.crop_size) < stride + 1:
        raise UsageError(f"--crop_size={','.join(map(str, d.crop_size))} is too small for "
                         f"output stride {stride}; expected at least {stride + 1} per side")
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


# ---------------------------------------------------------------------------------------------
# Numeric ranges: every number a user passes is finite and in its range
# ---------------------------------------------------------------------------------------------
# flag -> (low, high, low_open, high_open); None: unbounded on that side.
_TRAIN_RANGES = {
    "base_learning_rate": (0.0, None, True, False),
    "end_learning_rate": (0.0, None, False, False),
    "slow_start_learning_rate": (0.0, None, True, False),
    "learning_power": (0.0, None, False, False),
    "momentum": (0.0, 1.0, False, True),
    "batch_norm_momentum": (0.0, 1.0, False, True),
    "weight_decay": (0.0, None, False, False),
    "last_layer_gradient_multiplier": (0.0, None, False, False),
    "top_k_percent_pixels": (0.0, 1.0, True, False),
    "warmup_steps": (0, None, False, False),
    "slow_start_steps": (0, None, False, False),
    "hard_example_mining_step": (0, None, False, False),
    "image_summary_every": (0, None, False, False),
    "eval_every": (0, None, False, False),
    "max_eval_batches": (0, None, False, False),
    "min_scale": (0.0, None, True, False),
    "max_scale": (0.0, None, True, False),
    "scale_step": (0.0, None, False, False),
    "shuffle_buffer": (0, None, False, False),
}


def _finite(value):
    return isinstance(value, (int, float)) and math.isfinite(value)


def vars_of(config):
    return {f: getattr(config, f) for f in config.__dataclass_fields__}


def _interval(low, high, low_open, high_open):
    left = ("(" if low_open else "[") + ("-inf" if low is None else f"{low:g}")
    right = ("inf" if high is None else f"{high:g}") + (")" if high_open or high is None else "]")
    return f"{left}, {right}"


def check_range(flag, value, low=None, high=None, low_open=False, high_open=False):
    """UsageError naming --flag, its value and the range unless value is finite and in it."""
    inside = _finite(value) and not (
        (low is not None and (value < low or (low_open and value == low))) or
        (high is not None and (value > high or (high_open and value == high))))
    if not inside:
        raise UsageError(f"--{flag}={value} must be a finite number in "
                         f"{_interval(low, high, low_open, high_open)}")


def check_ranges(ranges, values):
    for flag, bounds in ranges.items():
        if values.get(flag) is not None:
            check_range(flag, values[flag], *bounds)


def check_eval(config):
    """The evaluation flags shared by train and evaluate."""
    if not config.eval_scales or any(not _finite(s) or s <= 0 for s in config.eval_scales):
        raise UsageError(f"--eval_scales={','.join(map(str, config.eval_scales))} must be "
                         "finite numbers > 0")
    from deeplab_tf.models.backbones import OUTPUT_STRIDES
    if config.output_stride is not None and config.output_stride not in OUTPUT_STRIDES:
        raise UsageError(f"--eval_output_stride={config.output_stride} must be one of "
                         f"{', '.join(map(str, OUTPUT_STRIDES))}")


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

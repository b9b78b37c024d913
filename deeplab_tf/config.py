"""Frozen configuration dataclasses, and the one place that reads absl FLAGS (from_flags).

The library takes these dataclasses (or explicit arguments), never FLAGS, so it is usable from
a notebook. Entry points build them with from_flags() after validating the flags.
"""
import dataclasses
import math
from typing import Optional, Tuple, Union


# ---------------------------------------------------------------------------------------------
# Data (deeplab_tf.data.pipeline.build_dataset)
# ---------------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class DataConfig:
    """What the tf.data pipeline needs. Defaults are the official research/deeplab ones."""
    dataset: str = "synthetic"            # a datasets.DATASETS key or a dataset.json path
    data_dir: str = ""                    # folder of prepared TFRecord shards
    source: str = "tfrecord"              # "tfrecord" | "tfds"
    tfds_data_dir: Optional[str] = None
    tfds_manual_dir: Optional[str] = None  # raw layout / archives for the TFDS builders
    batch_size: int = 8                   # global batch (split across replicas)
    crop_size: Tuple[int, int] = (513, 513)
    # Random scale 0.5..2.0 in steps of 0.25 (official train.py min/max_scale_factor,
    # scale_factor_step_size).
    min_scale: float = 0.5
    max_scale: float = 2.0
    scale_step: float = 0.25
    flip: bool = True
    # Images are padded with the backbone's mean pixel (what its preprocessing maps to 0),
    # labels with the ignore label (official input_preprocess.py).
    mean_pixel: Tuple[float, float, float] = (127.5, 127.5, 127.5)
    ignore_label: int = 255
    # Evaluation: pad each image to a crop of the form OS*k+1 (None: the smallest such crop that
    # holds the whole image) and remember the valid region to crop predictions back.
    eval_crop_size: Optional[Tuple[int, int]] = None
    output_stride: int = 16
    shuffle_buffer: int = 256
    deterministic: bool = False
    seed: int = 0


# ---------------------------------------------------------------------------------------------
# Model (deeplab_tf.build_model)
# ---------------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """Which model to build: a preset plus explicit overrides (see deeplab_tf.list_presets())."""
    preset: str = "deeplabv3plus_mobilenetv2"
    num_classes: Optional[int] = None     # None: the dataset's number of classes
    output_stride: Optional[int] = None   # None: the preset's training output stride
    overrides: Tuple[Tuple[str, object], ...] = ()   # extra build_model keyword arguments

    def build_kwargs(self):
        return dict(self.overrides)


# ---------------------------------------------------------------------------------------------
# Training (deeplab_tf.training.loop.train)
# ---------------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """The optimisation recipe. Defaults are the official research/deeplab train.py ones."""
    model_dir: str = "runs/train"
    strategy: str = "default"             # default | mirrored | multi_worker_mirrored | tpu
    tpu: str = ""                         # TPU name/address for TPUClusterResolver
    train_steps: int = 30000
    # Poly LR: base_lr * (1 - step / train_steps) ** power (official train.py: 0.007, 0.9).
    base_learning_rate: float = 0.007
    learning_power: float = 0.9
    end_learning_rate: float = 0.0
    warmup_steps: int = 0                 # linear warm-up from 0 to the poly value
    slow_start_steps: int = 0             # official slow start: a constant small LR first
    slow_start_learning_rate: float = 1e-4
    momentum: float = 0.9
    # L2 on kernels, slim convention wd * sum(w^2) / 2 added to the loss (official 4e-5,
    # 1e-4 for ResNet).
    weight_decay: float = 4e-5
    last_layer_gradient_multiplier: float = 1.0
    fine_tune_batch_norm: bool = True
    batch_norm_momentum: Optional[float] = None   # None: the backbone's official decay
    accumulation_steps: int = 1
    top_k_percent_pixels: float = 1.0
    hard_example_mining_step: int = 0
    # Per-class loss weights, or the name of a weighting computed from the prepared train
    # split's label statistics ("median_frequency", "inverse_log_frequency"; label_stats.py).
    class_weights: Union[None, str, Tuple[float, ...]] = None
    train_scales: Tuple[float, ...] = (1.0,)  # v2 multi-scale input training: (1.0, 0.75, 0.5)
    mixed_precision: str = "none"         # auto | none | mixed_float16 | mixed_bfloat16
    xla: bool = False
    # Initialisation: "" | "imagenet[:PATH]" | "official:PATH" | "checkpoint:PATH" (.keras,
    # .weights.h5 or a TF checkpoint prefix/directory).
    init: str = ""
    init_sha256: str = ""                 # pins the digest of a downloaded --init file by hand
    initialize_last_layer: bool = True    # False: keep the new last layer (num_classes changed)
    checkpoint_every: int = 1000
    keep_checkpoints: int = 3
    log_every: int = 10
    summary_every: int = 100
    image_summary_every: int = 500
    eval_every: int = 0                   # 0: evaluate only at the end
    deterministic: bool = False
    seed: int = 0
    max_eval_batches: int = 0             # 0: the whole eval split during periodic eval


# ---------------------------------------------------------------------------------------------
# Evaluation and export
# ---------------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class EvalConfig:
    """Evaluation settings (official eval.py: eval_scales [1.0], no flip, OS16 or 8)."""
    split: str = "val"
    output_stride: Optional[int] = None
    eval_scales: Tuple[float, ...] = (1.0,)
    add_flipped_images: bool = False
    crf: bool = False
    output_dir: str = ""


@dataclasses.dataclass(frozen=True)
class ExportConfig:
    """What to export after training (the quickstart exports a SavedModel and a TFLite file)."""
    formats: Tuple[str, ...] = ()         # subset of ("saved_model", "tflite")
    quantize: str = "none"                # none | fp16 | dynamic | int8
    output_dir: str = ""


# ---------------------------------------------------------------------------------------------
# The one reader of absl FLAGS
# ---------------------------------------------------------------------------------------------
def _from(cls, flags, renames=None, **fixed):
    """Fills dataclass `cls` from same-named flags (renames: field -> flag name)."""
    renames = renames or {}
    values = {}
    for field in dataclasses.fields(cls):
        name = renames.get(field.name, field.name)
        if field.name in fixed:
            values[field.name] = fixed[field.name]
        elif name in flags and flags[name].value is not None:
            value = flags[name].value
            if isinstance(value, list):
                value = tuple(value)
            values[field.name] = value
    return cls(**values)


def parse_overrides(items):
    """["width_multiplier=0.25", "aspp_channels=32"] -> (("width_multiplier", 0.25), ...)."""
    import ast
    out = []
    for item in items or ():
        if "=" not in item:
            raise ValueError(f"--model_overrides entry {item!r} is not KEY=VALUE")
        key, raw = item.split("=", 1)
        try:
            value = ast.literal_eval(raw)
        except (ValueError, SyntaxError):
            value = raw
        out.append((key.strip(), value))
    return tuple(out)


def parse_class_weights(values):
    """--class_weights: [] -> None, [NAME] -> NAME (a label_stats weighting), else floats."""
    from deeplab_tf.data.label_stats import WEIGHTINGS
    if not values:
        return None
    if len(values) == 1 and values[0] in WEIGHTINGS:
        return values[0]
    try:
        weights = tuple(float(v) for v in values)
    except ValueError:
        weights = ()
    if not weights or not all(math.isfinite(w) and w >= 0 for w in weights):
        raise ValueError(f"--class_weights={','.join(values)}; expected one of "
                         f"{list(WEIGHTINGS)} or one number >= 0 per class")
    return weights


def from_flags(flags):
    """Builds every config from parsed absl flags (absl.flags.FLAGS or a FlagValues).

    Returns a dict {"model", "data", "train", "eval", "export"}; a config is included only for
    flags that are defined (each entry point defines the groups it needs).
    """
    from deeplab_tf.flags import parse_floats, parse_size

    def crop(name):
        value = flags[name].value if name in flags else None
        return parse_size(value, name) if value else None

    data_fixed = {}
    if "crop_size" in flags:
        data_fixed["crop_size"] = crop("crop_size")
    if "eval_crop_size" in flags:
        data_fixed["eval_crop_size"] = crop("eval_crop_size")
    if "train_batch_size" in flags:
        data_fixed["batch_size"] = flags["train_batch_size"].value
    configs = {"data": _from(DataConfig, flags, **data_fixed)}
    if "preset" in flags:
        configs["model"] = _from(
            ModelConfig, flags,
            overrides=parse_overrides(flags["model_overrides"].value
                                      if "model_overrides" in flags else ()))
    if "train_steps" in flags:
        train_fixed = {"class_weights": parse_class_weights(flags["class_weights"].value)}
        train_fixed["train_scales"] = parse_floats(flags["train_scales"].value,
                                                   "train_scales")
        configs["train"] = _from(TrainConfig, flags, **train_fixed)
    if "eval_split" in flags:
        configs["eval"] = _from(
            EvalConfig, flags, renames={"split": "eval_split",
                                        "output_stride": "eval_output_stride",
                                        "output_dir": "eval_output_dir"},
            eval_scales=parse_floats(flags["eval_scales"].value, "eval_scales"))
    if "export_formats" in flags:
        configs["export"] = _from(ExportConfig, flags,
                                  renames={"formats": "export_formats",
                                           "quantize": "export_quantize",
                                           "output_dir": "export_dir"})
    return configs

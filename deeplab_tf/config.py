"""The run, written once: frozen configuration dataclasses whose fields are also the flags.

Each field that is a command-line flag carries its flag name, group, help and parser in its
metadata (`_flag`); deeplab_tf.flags generates the absl flags from them, from_flags() turns
parsed flags back into configs, and to_flagfile() writes configs as a flagfile. So a flag's
default, help and type are written in one place, here.

The library takes these dataclasses, never FLAGS, so a whole run works from Python:

    configs = deeplab_tf.config.from_flagfile("experiments/quickstart.flags", train_steps=20)
    outputs = deeplab_tf.train.run(configs)     # {"mean_iou": ..., "model_dir": ..., ...}
"""
import ast
import dataclasses
import math
import os
from typing import Optional, Tuple, Union

from deeplab_tf.data.datasets import IGNORE_LABEL
from deeplab_tf.training.precision import CHOICES as PRECISION_CHOICES


# ---------------------------------------------------------------------------------------------
# Flag values -> field values (each takes the flag's value and its name, for the error)
# ---------------------------------------------------------------------------------------------
def parse_size(values, flag, allow_square=False):
    """A list flag "HEIGHT,WIDTH" (or "N" for N,N with allow_square) -> (height, width).

    Raises ValueError naming the flag and its value when it is not two positive integers.
    """
    try:
        sizes = [int(v) for v in values]
    except ValueError:
        sizes = []
    if allow_square and len(sizes) == 1:
        sizes = sizes * 2
    if len(sizes) != 2 or min(sizes) < 1:
        raise ValueError(f"--{flag}={','.join(map(str, values))}; expected HEIGHT,WIDTH "
                         "positive integers, e.g. 513,513")
    return tuple(sizes)


def parse_floats(values, flag):
    """A list flag of numbers -> tuple of floats; ValueError naming the flag otherwise."""
    try:
        return tuple(float(v) for v in values)
    except ValueError:
        raise ValueError(f"--{flag}={','.join(map(str, values))}; expected comma-separated "
                         "numbers, e.g. 0.5,1.0,1.5") from None


def parse_optional_size(values, flag):
    return parse_size(values, flag) if values else None


def parse_overrides(items, flag="model_overrides"):
    """["width_multiplier=0.25", "aspp_channels=32"] -> (("width_multiplier", 0.25), ...)."""
    out = []
    for item in items or ():
        if "=" not in item:
            raise ValueError(f"--{flag} entry {item!r} is not KEY=VALUE")
        key, raw = item.split("=", 1)
        try:
            value = ast.literal_eval(raw)
        except (ValueError, SyntaxError):
            value = raw
        out.append((key.strip(), value))
    return tuple(out)


def parse_class_weights(values, flag="class_weights"):
    """--class_weights: [] -> None, [NAME] -> NAME (a label_stats weighting), else floats."""
    from deeplab_tf.data.label_stats import WEIGHTINGS
    if not values:
        return None
    values = [str(v) for v in values]
    if len(values) == 1 and values[0] in WEIGHTINGS:
        return values[0]
    try:
        weights = tuple(float(v) for v in values)
    except ValueError:
        weights = ()
    if not weights or not all(math.isfinite(w) and w >= 0 for w in weights):
        raise ValueError(f"--{flag}={','.join(values)}; expected one of "
                         f"{list(WEIGHTINGS)} or one number >= 0 per class")
    return weights


def _render_overrides(overrides):
    return [f"{key}={value}" for key, value in overrides]


def _render_list(value):
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    return [str(v) for v in value]


def _flag(default, help, *, name=None, group=None, kind=None, choices=None, parse=None,
          render=_render_list):
    """A dataclass field that is also a flag.

    name: the flag's name (default: the field's); group: the define_*_flags group it belongs
    to (default: its config's); kind: the absl flag type (default: from the default value);
    parse(flag_value, flag_name) -> field value, for list flags (default: a tuple);
    render(field_value) -> the flag's value, for list flags (default: str of each item).
    """
    if kind is None:
        kind = ("enum" if choices else "boolean" if isinstance(default, bool)
                else "integer" if isinstance(default, int) else "float"
                if isinstance(default, float) else "list" if isinstance(default, tuple)
                else "string")
    return dataclasses.field(default=default, metadata={
        "flag": name, "group": group, "kind": kind, "choices": choices, "help": help,
        "parse": parse, "render": render})


# ---------------------------------------------------------------------------------------------
# Data (deeplab_tf.data.pipeline.build_dataset)
# ---------------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class DataConfig:
    """What the tf.data pipeline needs. Defaults are the official research/deeplab ones."""
    dataset: str = _flag("synthetic", "Dataset: a built-in name (voc2012, voc2012_aug, "
                         "cityscapes, camvid, synthetic) or the path of a dataset.json "
                         "(README: Your own data).")
    data_dir: str = _flag("", "Folder of prepared TFRecord shards.")
    source: str = _flag("tfrecord", "Where examples come from.", choices=["tfrecord", "tfds"])
    tfds_data_dir: Optional[str] = _flag(None, "tensorflow-datasets data_dir (source=tfds).",
                                         kind="string")
    tfds_manual_dir: Optional[str] = None  # raw layout / archives for the TFDS builders
    batch_size: int = _flag(8, "GLOBAL batch, split across replicas.",
                            name="train_batch_size", group="train")
    crop_size: Tuple[int, int] = _flag((513, 513), "Training crop HEIGHT,WIDTH.",
                                       parse=parse_size)
    # Random scale 0.5..2.0 in steps of 0.25 (official train.py min/max_scale_factor,
    # scale_factor_step_size).
    min_scale: float = _flag(0.5, "Random scale augmentation minimum.")
    max_scale: float = _flag(2.0, "Random scale augmentation maximum.")
    scale_step: float = _flag(0.25, "Random scale step (0: continuous).")
    flip: bool = _flag(True, "Random left-right flip.")
    # Images are padded with the backbone's mean pixel (what its preprocessing maps to 0),
    # labels with the ignore label (official input_preprocess.py).
    mean_pixel: Tuple[float, float, float] = (127.5, 127.5, 127.5)
    ignore_label: int = IGNORE_LABEL
    # Evaluation: pad each image to a crop of the form OS*k+1 (None: the smallest such crop that
    # holds the whole image) and remember the valid region to crop predictions back.
    eval_crop_size: Optional[Tuple[int, int]] = _flag(
        None, "Eval crop HEIGHT,WIDTH (default: whole image).", kind="list",
        parse=parse_optional_size)
    output_stride: int = 16
    shuffle_buffer: int = _flag(256, "Shuffle buffer (examples).")
    deterministic: bool = False
    seed: int = 0
    train_split: str = _flag("train", "Split to train on (e.g. train_aug).")
    prepare_synthetic: bool = _flag(False, "Generate and prepare the embedded synthetic "
                                    "dataset into --data_dir when it is not there yet (the "
                                    "quickstart).")


# ---------------------------------------------------------------------------------------------
# Model (deeplab_tf.build_model)
# ---------------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """Which model to build: a preset plus explicit overrides (see deeplab_tf.list_presets())."""
    preset: str = _flag("deeplabv3plus_mobilenetv2", "Model preset (deeplab_tf.list_presets()).")
    num_classes: Optional[int] = _flag(None, "Number of classes (default: the dataset's).",
                                       kind="integer")
    output_stride: Optional[int] = _flag(None, "Training output stride (default: the "
                                         "preset's).", kind="integer")
    overrides: Tuple[Tuple[str, object], ...] = _flag(
        (), "Extra build_model keyword arguments as KEY=VALUE (e.g. width_multiplier=0.25).",
        name="model_overrides", parse=parse_overrides, render=_render_overrides)

    def build_kwargs(self):
        return dict(self.overrides)


# ---------------------------------------------------------------------------------------------
# Training (deeplab_tf.training.loop.train)
# ---------------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """The optimisation recipe. Defaults are the official research/deeplab train.py ones."""
    model_dir: str = _flag("runs/train", "Checkpoints, summaries, resolved flags.")
    strategy: str = _flag("default", "default | mirrored | multi_worker_mirrored (TF_CONFIG) "
                          "| tpu.")
    tpu: str = _flag("", "TPU name or grpc:// address (strategy=tpu).")
    train_steps: int = _flag(30000, "Optimizer steps.")
    # Poly LR: base_lr * (1 - step / train_steps) ** power (official train.py: 0.007, 0.9).
    base_learning_rate: float = _flag(0.007, "Poly LR base.")
    learning_power: float = _flag(0.9, "Poly LR power.")
    end_learning_rate: float = _flag(0.0, "Poly LR end value.")
    warmup_steps: int = _flag(0, "Linear warm-up steps.")
    slow_start_steps: int = _flag(0, "Steps at --slow_start_learning_rate first.")
    slow_start_learning_rate: float = _flag(1e-4, "LR during slow start.")
    momentum: float = _flag(0.9, "SGD momentum.")
    # L2 on kernels, slim convention wd * sum(w^2) / 2 added to the loss (official 4e-5,
    # 1e-4 for ResNet).
    weight_decay: float = _flag(4e-5, "L2 on kernels: wd * sum(w^2) / 2 (slim).")
    last_layer_gradient_multiplier: float = _flag(
        1.0, "Gradient (= LR) multiplier of the last (logits) layer.")
    fine_tune_batch_norm: bool = _flag(True, "Train BatchNorm (needs batch >= 12); False "
                                       "freezes it.")
    batch_norm_momentum: Optional[float] = _flag(
        None, "Override the BatchNorm moving-average momentum (default: the backbone's "
        "official 0.9997; short runs need e.g. 0.99).", kind="float")
    accumulation_steps: int = _flag(1, "Split each replica batch into this many micro-batches "
                                    "and sum their gradients before one update (small GPUs).")
    top_k_percent_pixels: float = _flag(1.0, "Hard-pixel mining fraction (1: off).")
    hard_example_mining_step: int = _flag(0, "Anneal top_k from 1 to --top_k_percent_pixels "
                                          "over these steps.")
    # Per-class loss weights, or the name of a weighting computed from the prepared train
    # split's label statistics ("median_frequency", "inverse_log_frequency"; label_stats.py).
    class_weights: Union[None, str, Tuple[float, ...]] = _flag(
        None, "Per-class loss weights: one number per class, or median_frequency (SegNet) / "
        "inverse_log_frequency (ENet), computed from the label statistics prepare stored for "
        "--train_split (default: all 1).", kind="list", parse=parse_class_weights)
    train_scales: Tuple[float, ...] = _flag(
        (1.0,), "Multi-scale input training (v2 MSC: 1.0,0.75,0.5, max fusion).",
        parse=parse_floats)
    mixed_precision: str = _flag(
        "none", "Keras mixed precision policy (float16 gets loss scaling); auto: the fastest "
        "for this machine (bfloat16 on TPUs, GPUs of compute capability >= 8 and CPUs with "
        "AMX, float16 on 7.x GPUs, else float32; deeplab_tf/training/precision.py).",
        choices=list(PRECISION_CHOICES))
    xla: bool = _flag(False, "jit_compile the train step.")
    init: str = _flag(
        "", "Initialisation: imagenet[:PATH] (Keras ImageNet file) | official (the backbone's "
        "official ImageNet checkpoint, e.g. resnet_v1_101_beta for the v3 ResNet-101) | "
        "official:PATH|NAME (an "
        "official TF1 checkpoint prefix/folder/.tar.gz/.tgz or .tflite, or a name of "
        "deeplab_tf.weights.download.OFFICIAL_FILES fetched into $DEEPLAB_TF_CACHE, e.g. "
        "resnet_v1_101_beta, resnet_v1_101, xception_65, mobilenet_v2_1.0_224: an ImageNet "
        "classification checkpoint initialises the backbone only, a model zoo checkpoint the "
        "whole model) | checkpoint:PATH (one of our runs).")
    init_sha256: str = _flag("", "Expected sha256 of the file an --init=official:NAME "
                             "downloads (default: the recorded one, else the first "
                             "download's).")
    initialize_last_layer: bool = _flag(True, "Restore the last layer too (ignored when "
                                        "num_classes differs).")
    checkpoint_every: int = _flag(1000, "Save a checkpoint every N steps.")
    keep_checkpoints: int = _flag(3, "Checkpoints kept.")
    log_every: int = _flag(10, "Console progress line every N steps.")
    summary_every: int = _flag(100, "TensorBoard scalars every N steps.")
    image_summary_every: int = _flag(500, "TensorBoard images every N steps (0 off).")
    eval_every: int = _flag(0, "Evaluate mIoU every N steps (0: only at the end).")
    deterministic: bool = _flag(False, "Deterministic ops and data (slower).")
    seed: int = _flag(0, "Random seed.")
    max_eval_batches: int = _flag(0, "Cap periodic evaluation (0: whole split).")
    num_cpu_replicas: int = _flag(0, "Split the CPU into this many logical devices (testing "
                                  "the mirrored strategy without GPUs); 0: off.")


# ---------------------------------------------------------------------------------------------
# Evaluation and export
# ---------------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class EvalConfig:
    """Evaluation settings (official eval.py: eval_scales [1.0], no flip, OS16 or 8)."""
    split: str = _flag("val", "Split evaluated during/after training.", name="eval_split")
    output_stride: Optional[int] = _flag(
        None, "Pad eval images to OS*k+1 for this stride (default: the training output stride; "
        "the model itself runs at its training stride: evaluate at another one with "
        "deeplab_tf.evaluate).", name="eval_output_stride", kind="integer")
    eval_scales: Tuple[float, ...] = _flag((1.0,), "Eval scales.", parse=parse_floats)
    add_flipped_images: bool = _flag(False, "Also evaluate left-right flipped.")
    crf: bool = _flag(False, "DenseCRF post-processing at evaluation.")
    output_dir: str = _flag("", "Metrics JSON folder (default MODEL_DIR/eval).",
                            name="eval_output_dir")


@dataclasses.dataclass(frozen=True)
class ExportConfig:
    """What to export after training (the quickstart exports a SavedModel and a TFLite file)."""
    formats: Tuple[str, ...] = _flag((), "After training export these: saved_model, tflite "
                                     "(default: none).", name="export_formats")
    quantize: str = _flag("none", "TFLite quantisation of the exported model.",
                          name="export_quantize", choices=["none", "fp16", "dynamic", "int8"])
    output_dir: str = _flag("", "Export folder (default MODEL_DIR/export).", name="export_dir")


# The configs of a run, by key of the dict from_flags returns, with the flag group each one's
# fields belong to by default.
CONFIGS = {"data": (DataConfig, "data"), "model": (ModelConfig, "model"),
           "train": (TrainConfig, "train"), "eval": (EvalConfig, "eval"),
           "export": (ExportConfig, "export")}


@dataclasses.dataclass(frozen=True)
class FlagField:
    """One flag: where it lives (config key, field) and how it is defined and read."""
    key: str
    field: str
    flag: str
    group: str
    kind: str
    default: object
    help: str
    choices: Optional[list]
    parse: object
    render: object

    def to_field(self, value):
        """A parsed absl value -> the field's value."""
        if self.kind == "list":
            return (self.parse or (lambda v, _: tuple(v)))(value or [], self.flag)
        return value

    def to_flag(self, value):
        """A field's value -> the absl value (lists for list flags)."""
        return self.render(value) if self.kind == "list" else value


def flag_fields(group=None):
    """Every FlagField (of one group: model, data, train, eval, export), in definition order."""
    out = []
    for key, (cls, default_group) in CONFIGS.items():
        for field in dataclasses.fields(cls):
            meta = field.metadata
            if "help" not in meta:
                continue   # not a flag: filled by the code (e.g. DataConfig.mean_pixel)
            item = FlagField(key, field.name, meta["flag"] or field.name,
                             meta["group"] or default_group, meta["kind"], field.default,
                             meta["help"], meta["choices"], meta["parse"], meta["render"])
            if group is None or item.group == group:
                out.append(item)
    return out


# ---------------------------------------------------------------------------------------------
# Flags <-> configs
# ---------------------------------------------------------------------------------------------
def from_flags(flags):
    """Builds the configs from parsed absl flags (absl.flags.FLAGS or a FlagValues).

    Returns a dict {"data", "model", "train", "eval", "export"}; a config is included when the
    flags of its own group are defined (each entry point defines the groups it needs). Raises
    ValueError naming the flag when a value does not parse.
    """
    values = {key: {} for key in CONFIGS}
    defined = set()
    for item in flag_fields():
        if item.flag not in flags:
            continue
        if item.group == CONFIGS[item.key][1]:
            defined.add(item.key)
        value = flags[item.flag].value
        if value is not None or item.kind == "list":
            values[item.key][item.field] = item.to_field(value)
    return {key: cls(**values[key]) for key, (cls, _) in CONFIGS.items()
            if key in defined or key == "data"}


def define_flags(flag_values=None):
    """A FlagValues with every flag of deeplab_tf.train (the global FLAGS are not touched)."""
    from absl import flags as absl_flags
    from deeplab_tf import flags as flag_defs
    flag_values = absl_flags.FlagValues() if flag_values is None else flag_values
    for group in ("model", "data", "train", "eval", "export"):
        flag_defs.define_group(group, flag_values)
    return flag_values


def from_flagfile(path, **overrides):
    """The configs of a flagfile (experiments/NAME.flags), with flags overridden by keyword.

    Overrides are named like the flags (train_steps=20, export_formats=[], crop_size=(97, 97),
    model_dir="run"); strings are parsed as on the command line ("97,97"). No global absl
    state is read or changed, so this works in a notebook and in library code.
    """
    from absl import flags as absl_flags
    if not os.path.isfile(path):
        raise FileNotFoundError(f"flagfile {path} does not exist")
    flag_values = define_flags()
    try:
        flag_values(["deeplab_tf", f"--flagfile={path}"])
    except absl_flags.Error as error:
        raise ValueError(f"flagfile {path}: {error}") from None
    for name, value in overrides.items():
        if name not in flag_values:
            known = ", ".join(sorted(item.flag for item in flag_fields()))
            raise ValueError(f"from_flagfile({path!r}): unknown flag {name!r}; the flags of "
                             f"deeplab_tf.train are {known}")
        flag = flag_values[name]
        try:
            if isinstance(value, str):   # as on the command line (enum choices checked too)
                flag.parse(value)
            else:
                flag.value = list(value) if isinstance(value, tuple) else value
        except absl_flags.Error as error:
            raise ValueError(f"from_flagfile({path!r}): {name}={value!r}: {error}") from None
    return from_flags(flag_values)


def to_flagfile(configs, **resolved):
    """The configs as flagfile text (every flag of every config present), so the file reruns
    exactly this run; `resolved` replaces flags by name (e.g. mixed_precision="none")."""
    lines = []
    for item in flag_fields():
        if item.key not in configs:
            continue
        value = resolved.get(item.flag, getattr(configs[item.key], item.field))
        value = item.to_flag(value)
        if item.kind == "boolean":
            lines.append(f"--{'' if value else 'no'}{item.flag}")
        elif item.kind == "list":
            lines.append(f"--{item.flag}={','.join(value)}")
        elif value is not None:
            lines.append(f"--{item.flag}={value}")
    return "\n".join(lines) + "\n"

"""absl flag definitions shared by the entry points.

Each entry point calls the define_* groups it needs at import time; deeplab_tf.config.from_flags
turns the parsed values into frozen dataclasses. Defaults are the official research/deeplab
ones; experiments/*.flags hold the per-paper recipes.
"""
from absl import flags

from deeplab_tf.training import precision


def define_model_flags():
    flags.DEFINE_string("preset", "deeplabv3plus_mobilenetv2",
                        "Model preset (deeplab_tf.list_presets()).")
    flags.DEFINE_integer("num_classes", None, "Number of classes (default: the dataset's).")
    flags.DEFINE_integer("output_stride", None, "Training output stride (default: the preset's).")
    flags.DEFINE_list("model_overrides", [],
                      "Extra build_model keyword arguments as KEY=VALUE (e.g. "
                      "width_multiplier=0.25).")


def define_data_flags():
    flags.DEFINE_string("dataset", "synthetic", "Dataset: a built-in name (voc2012, voc2012_aug, "
                        "cityscapes, camvid, synthetic) or the path of a dataset.json "
                        "(README: Your own data).")
    flags.DEFINE_string("data_dir", "", "Folder of prepared TFRecord shards.")
    flags.DEFINE_enum("source", "tfrecord", ["tfrecord", "tfds"], "Where examples come from.")
    flags.DEFINE_string("tfds_data_dir", None, "tensorflow-datasets data_dir (source=tfds).")
    flags.DEFINE_string("train_split", "train", "Split to train on (e.g. train_aug).")
    flags.DEFINE_list("crop_size", ["513", "513"], "Training crop HEIGHT,WIDTH.")
    flags.DEFINE_list("eval_crop_size", [], "Eval crop HEIGHT,WIDTH (default: whole image).")
    # Official train.py: min/max_scale_factor 0.5 / 2.0, scale_factor_step_size 0.25.
    flags.DEFINE_float("min_scale", 0.5, "Random scale augmentation minimum.")
    flags.DEFINE_float("max_scale", 2.0, "Random scale augmentation maximum.")
    flags.DEFINE_float("scale_step", 0.25, "Random scale step (0: continuous).")
    flags.DEFINE_boolean("flip", True, "Random left-right flip.")
    flags.DEFINE_integer("shuffle_buffer", 256, "Shuffle buffer (examples).")
    flags.DEFINE_boolean("prepare_synthetic", False,
                         "Generate and prepare the embedded synthetic dataset into --data_dir "
                         "when it is not there yet (the quickstart).")


def define_train_flags():
    flags.DEFINE_string("model_dir", "runs/train", "Checkpoints, summaries, resolved flags.")
    flags.DEFINE_string("strategy", "default",
                        "default | mirrored | multi_worker_mirrored (TF_CONFIG) | tpu.")
    flags.DEFINE_string("tpu", "", "TPU name or grpc:// address (strategy=tpu).")
    flags.DEFINE_integer("num_cpu_replicas", 0,
                         "Split the CPU into this many logical devices (testing the mirrored "
                         "strategy without GPUs); 0: off.")
    flags.DEFINE_integer("train_batch_size", 8, "GLOBAL batch, split across replicas.")
    flags.DEFINE_integer("train_steps", 30000, "Optimizer steps.")
    flags.DEFINE_float("base_learning_rate", 0.007, "Poly LR base.")
    flags.DEFINE_float("learning_power", 0.9, "Poly LR power.")
    flags.DEFINE_float("end_learning_rate", 0.0, "Poly LR end value.")
    flags.DEFINE_integer("warmup_steps", 0, "Linear warm-up steps.")
    flags.DEFINE_integer("slow_start_steps", 0, "Steps at --slow_start_learning_rate first.")
    flags.DEFINE_float("slow_start_learning_rate", 1e-4, "LR during slow start.")
    flags.DEFINE_float("momentum", 0.9, "SGD momentum.")
    flags.DEFINE_float("weight_decay", 4e-5, "L2 on kernels: wd * sum(w^2) / 2 (slim).")
    flags.DEFINE_float("last_layer_gradient_multiplier", 1.0,
                       "Gradient (= LR) multiplier of the last (logits) layer.")
    flags.DEFINE_boolean("fine_tune_batch_norm", True,
                         "Train BatchNorm (needs batch >= 12); False freezes it.")
    flags.DEFINE_float("batch_norm_momentum", None,
                       "Override the BatchNorm moving-average momentum (default: the "
                       "backbone's official 0.9997; short runs need e.g. 0.99).")
    flags.DEFINE_integer("accumulation_steps", 1,
                         "Split each replica batch into this many micro-batches and sum their "
                         "gradients before one update (small GPUs).")
    flags.DEFINE_float("top_k_percent_pixels", 1.0, "Hard-pixel mining fraction (1: off).")
    flags.DEFINE_integer("hard_example_mining_step", 0,
                         "Anneal top_k from 1 to --top_k_percent_pixels over these steps.")
    flags.DEFINE_list("class_weights", [],
                      "Per-class loss weights: one number per class, or median_frequency "
                      "(SegNet) / inverse_log_frequency (ENet), computed from the label "
                      "statistics prepare stored for --train_split (default: all 1).")
    flags.DEFINE_list("train_scales", ["1.0"],
                      "Multi-scale input training (v2 MSC: 1.0,0.75,0.5, max fusion).")
    flags.DEFINE_enum("mixed_precision", "none", list(precision.CHOICES),
                      "Keras mixed precision policy (float16 gets loss scaling); auto: the "
                      "fastest for this machine (bfloat16 on TPUs, GPUs of compute capability "
                      ">= 8 and CPUs with AMX, float16 on 7.x GPUs, else float32; "
                      "deeplab_tf/training/precision.py).")
    flags.DEFINE_boolean("xla", False, "jit_compile the train step.")
    flags.DEFINE_string("init", "",
                        "Initialisation: imagenet[:PATH] (Keras ImageNet file) | "
                        "official:PATH|NAME (an official TF1 checkpoint prefix/folder/.tar.gz/"
                        ".tgz or .tflite, or a name of deeplab_tf.weights.download."
                        "OFFICIAL_FILES fetched into $DEEPLAB_TF_CACHE, e.g. resnet_v1_101_beta, "
                        "resnet_v1_101, xception_65, mobilenet_v2_1.0_224: an ImageNet "
                        "classification checkpoint initialises the backbone only, a model zoo "
                        "checkpoint the whole model) | checkpoint:PATH (one of our runs).")
    flags.DEFINE_string("init_sha256", "", "Expected sha256 of the file an --init=official:NAME "
                        "downloads (default: the recorded one, else the first download's).")
    flags.DEFINE_boolean("initialize_last_layer", True,
                         "Restore the last layer too (ignored when num_classes differs).")
    flags.DEFINE_integer("checkpoint_every", 1000, "Save a checkpoint every N steps.")
    flags.DEFINE_integer("keep_checkpoints", 3, "Checkpoints kept.")
    flags.DEFINE_integer("log_every", 10, "Console progress line every N steps.")
    flags.DEFINE_integer("summary_every", 100, "TensorBoard scalars every N steps.")
    flags.DEFINE_integer("image_summary_every", 500, "TensorBoard images every N steps (0 off).")
    flags.DEFINE_integer("eval_every", 0, "Evaluate mIoU every N steps (0: only at the end).")
    flags.DEFINE_integer("max_eval_batches", 0, "Cap periodic evaluation (0: whole split).")
    flags.DEFINE_boolean("deterministic", False, "Deterministic ops and data (slower).")
    flags.DEFINE_integer("seed", 0, "Random seed.")


def define_eval_flags():
    flags.DEFINE_string("eval_split", "val", "Split evaluated during/after training.")
    flags.DEFINE_integer("eval_output_stride", None,
                         "Pad eval images to OS*k+1 for this stride (default: the training "
                         "output stride; the model itself runs at its training stride: "
                         "evaluate at another one with deeplab_tf.evaluate).")
    flags.DEFINE_list("eval_scales", ["1.0"], "Eval scales.")
    flags.DEFINE_boolean("add_flipped_images", False, "Also evaluate left-right flipped.")
    flags.DEFINE_boolean("crf", False, "DenseCRF post-processing at evaluation.")
    flags.DEFINE_string("eval_output_dir", "", "Metrics JSON folder (default MODEL_DIR/eval).")


def define_tiling_flags():
    """--tile, --tile_overlap, --tile_above_pixels: tiled inference (deeplab_tf.tiling) for
    predict and evaluate; read with tiling.from_flag_values."""
    from deeplab_tf import tiling
    if "tile" in flags.FLAGS:
        return
    flags.DEFINE_string("tile", "auto", "Tile HEIGHT,WIDTH for images above "
                        "--tile_above_pixels (auto: 513,513, or a fixed-size model's input "
                        "size; 0: always run whole images).")
    flags.DEFINE_float("tile_overlap", tiling.DEFAULT_OVERLAP, "Fraction of a tile shared with "
                       "each neighbour; the tiles' probabilities are blended there.")
    flags.DEFINE_integer("tile_above_pixels", tiling.DEFAULT_ABOVE_PIXELS, "Tile images with "
                         "more pixels than this (0: every image larger than a tile).")


def define_export_flags():
    flags.DEFINE_list("export_formats", [],
                      "After training export these: saved_model, tflite (default: none).")
    flags.DEFINE_enum("export_quantize", "none", ["none", "fp16", "dynamic", "int8"],
                      "TFLite quantisation of the exported model.")
    flags.DEFINE_string("export_dir", "", "Export folder (default MODEL_DIR/export).")


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
        raise ValueError(f"--{flag}={','.join(values)}; expected HEIGHT,WIDTH positive "
                         "integers, e.g. 513,513")
    return tuple(sizes)


def parse_floats(values, flag):
    """A list flag of numbers -> tuple of floats; ValueError naming the flag otherwise."""
    try:
        return tuple(float(v) for v in values)
    except ValueError:
        raise ValueError(f"--{flag}={','.join(values)}; expected comma-separated numbers, "
                         "e.g. 0.5,1.0,1.5") from None

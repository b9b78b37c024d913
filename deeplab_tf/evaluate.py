"""Evaluate a model on a whole split: confusion matrix, the FCN metrics, pictures.

    python -m deeplab_tf.evaluate --flagfile=experiments/NAME.flags --checkpoint=RUN_DIR \
        [--eval_scales=0.5,0.75,1.0,1.25,1.5,1.75] [--add_flipped_images] \
        [--eval_output_stride=8] [--crf] [--tile=513,513] --output_dir=DIR
    python -m deeplab_tf.evaluate --model=deeplab.keras|SAVED_MODEL|model.tflite \
        --dataset=voc2012 --data_folder=../shared/data/voc --eval_split=val --output_dir=DIR

Data: --data_folder reads raw files in the dataset's official layout (VOC: VOCdevkit/VOC2012/
{JPEGImages, SegmentationClass[Raw], ImageSets/Segmentation}); otherwise --data_dir holds the
TFRecords of deeplab_tf.data.prepare (read by deeplab_tf.data.pipeline.build_dataset).
Model: --model (a .keras file, a SavedModel folder or a .tflite file) or --checkpoint (a
training model_dir or checkpoint prefix of deeplab_tf.train: the model is rebuilt from its
model_signature.json and the weights restored). --eval_output_stride (alias --output_stride
when no training flagfile sets it) evaluates at another output stride than training.

Writes metrics.json (pixel_accuracy, mean_accuracy, mean_iou, frequency_weighted_iou,
per_class_iou by class name; with --crf also "without_crf"), metrics.md, confusion_matrix.png,
confusion_matrix.npy, and panels/ID.png for the first --num_panels images.
"""
if __name__ == "__main__":   # before TensorFlow is imported: its C++ log lines
    from deeplab_tf.quiet import quiet
    quiet()
import json
import math
import os
import sys
import time

from absl import app, flags

from deeplab_tf import flags as common_flags
# This module is the command line (flags, run(), run_distributed()); the evaluation itself
# (examples, the confusion matrices, the output files) is deeplab_tf.evaluation, and training
# checkpoints load through deeplab_tf.predictors (--help prints the docstring above).
from deeplab_tf.evaluation import (evaluate, folder_examples, metrics_line, record_examples,
                                   write_outputs)
from deeplab_tf.predictors import load_checkpoint

FLAGS = flags.FLAGS


def define_flags():
    """Defines the flags (only when run as a program, so importing this module as a library
    never touches absl FLAGS). The training flag groups are defined too, so
    `--flagfile=experiments/X.flags` parses as is."""
    for define_group in (common_flags.define_model_flags, common_flags.define_data_flags,
                         common_flags.define_train_flags, common_flags.define_eval_flags,
                         common_flags.define_export_flags):
        define_group()
    _define("string", "checkpoint", None, "Training model_dir (its latest checkpoint), RUN/best "
            "(the best evaluation of the run) or a checkpoint prefix to evaluate.")
    _define("string", "model", None, "A .keras file, a SavedModel folder or a .tflite file.")
    _define("string", "output_dir", None, "Where metrics.json and the pictures go (default "
            "with --checkpoint: the run's folder/evaluate_<eval_split>).")
    _define("string", "data_folder", None, "Raw dataset folder (official layout) instead of "
            "--data_dir TFRecords.")
    _define("integer", "eval_batch_size", 4, "Images per model call.")
    _define("integer", "max_images", 0, "Evaluate only the first N images (0: all).")
    _define("integer", "num_panels", 8, "Write image|prediction|CRF|truth panels for N images.")
    _define("boolean", "save_label_ids", False, "Also write every prediction in the evaluation "
            "server's format into OUTPUT/label_ids/ (Cityscapes ID_labelIds.png with the "
            "official label ids, VOC palette PNGs).")
    _define("integer", "crf_processes", 0, "CRF worker processes (0: one per CPU core).")
    _define("string", "crf_params", None, "JSON file of CRF parameters (crf_search output); "
            "default: the DeepLab v2 values for the backbone.")
    _define("enum", "tflite_input_range", "auto", ["auto", "0_255", "minus_one_to_one"],
            "Input range of a float .tflite (auto: official files take [-1, 1]).")
    common_flags.define_tiling_flags()   # images above --tile_above_pixels run in tiles


def _define(kind, name, default, *args):
    if name not in FLAGS:
        getattr(flags, f"DEFINE_{kind}")(name, default, *args)


def _fail(message):
    sys.exit(f"evaluate: error: {message}")


# ---------------------------------------------------------------------------------------------
# Model loading
# ---------------------------------------------------------------------------------------------
def load(config_flags, configs):
    """The model of --checkpoint or --model, at the eval output stride of `configs`."""
    from deeplab_tf import predictors
    if bool(config_flags.checkpoint) == bool(config_flags.model):
        _fail("pass exactly one of --checkpoint=PATH or --model=PATH")
    eval_os = eval_output_stride(configs)
    if config_flags.checkpoint:
        model, prefix = load_checkpoint(config_flags.checkpoint, eval_os)
        return predictors.predictor_from_keras(model, prefix)
    overrides = configs["model"].build_kwargs()
    predictor = predictors.load_predictor(
        config_flags.model, tflite_input_range=config_flags.tflite_input_range)
    if eval_os and predictor.kind == "keras":
        model = predictors.rebuild_at_output_stride(
            predictor.model, eval_os,
            configs["model"].preset if FLAGS["preset"].present else None,
            **overrides)
        predictor = predictors.predictor_from_keras(model, config_flags.model)
    elif eval_os:
        _fail(f"--output_stride/--eval_output_stride={eval_os} needs a .keras model or a "
              "checkpoint; "
              f"{config_flags.model} has its output stride fixed at export")
    return predictor


def eval_output_stride(configs):
    """--eval_output_stride, else --output_stride (the issue's spelling), else None (keep)."""
    return configs["eval"].output_stride or configs["model"].output_stride


def main(argv):
    del argv
    import tensorflow as tf
    try:
        run()
    except (ValueError, FileNotFoundError, OSError) as error:
        sys.exit(f"evaluate: error: {error}")
    except (tf.errors.DataLossError, tf.errors.InvalidArgumentError) as error:
        from deeplab_tf.data import records
        if not records.is_read_error(error) or not FLAGS.data_dir:
            raise
        sys.exit(f"evaluate: error: {records.describe_read_error(FLAGS.data_dir, error)}")


def run():
    """One evaluation. The settings it shares with training (dataset, data, model, eval
    scales, flips, CRF, strategy) come from the configs (deeplab_tf.config.from_flags), the
    flags of this command only (model, output, panels, ...) from FLAGS."""
    from deeplab_tf import viz
    from deeplab_tf.config import from_flags
    from deeplab_tf.data.datasets import get_dataset
    from deeplab_tf.postprocess import crf as crf_lib
    configs = from_flags(FLAGS)
    d, e, t = configs["data"], configs["eval"], configs["train"]
    if not FLAGS.output_dir:
        if not FLAGS.checkpoint:
            _fail("--output_dir is required with --model")
        # A training run's own folder: RUN/evaluate_<split> beside RUN/eval (training's final
        # evaluation), so a recipe's evaluate command needs no output folder of its own.
        run_dir = (FLAGS.checkpoint if os.path.isdir(FLAGS.checkpoint)
                   else os.path.dirname(FLAGS.checkpoint))
        FLAGS.output_dir = os.path.join(run_dir, f"evaluate_{e.split}")
    if not FLAGS.data_folder and not d.data_dir:
        _fail("pass --data_folder=RAW_FOLDER (official layout) or --data_dir=TFRECORDS")
    if FLAGS.save_label_ids:
        from deeplab_tf import server_formats
        server_formats.check_dataset(d.dataset)
    for name, low in (("eval_batch_size", 1), ("max_images", 0), ("num_panels", 0),
                      ("crf_processes", 0)):
        if FLAGS[name].value < low:
            _fail(f"--{name}={FLAGS[name].value} must be >= {low}")
    if os.path.exists(FLAGS.output_dir) and not os.path.isdir(FLAGS.output_dir):
        _fail(f"--output_dir={FLAGS.output_dir} is an existing file; expected a folder")
    info = get_dataset(d.dataset)
    scales = e.eval_scales
    if not scales or any(not math.isfinite(s) or s <= 0 for s in scales):
        _fail(f"--eval_scales={','.join(map(str, scales))}: scales must be finite numbers > 0")
    crop = d.eval_crop_size
    if t.strategy != "default":
        return run_distributed(configs, info, scales)
    from deeplab_tf import tiling
    tiles = tiling.from_flag_values(FLAGS.tile, FLAGS.tile_overlap, FLAGS.tile_above_pixels)
    predictor = load(FLAGS, configs)
    tiles = tiling.for_predictor(tiles, predictor)
    crf_params = None
    if e.crf:
        if FLAGS.crf_params:
            with open(FLAGS.crf_params) as f:
                crf_params = crf_lib.CRFParams(**json.load(f)["best"])
        else:
            crf_params = crf_lib.default_params(_backbone_of(predictor))
    split = e.split
    if FLAGS.data_folder:
        examples = folder_examples(FLAGS.data_folder, d.dataset, split)
        total = None
    else:
        data = data_config(configs)
        examples = record_examples(data, split)
        total = _prepared_count(data, split)
    if FLAGS.max_images:
        examples = _take(examples, FLAGS.max_images)
    result = evaluate(
        predictor, examples, info.num_classes, class_names=info.class_names,
        eval_scales=scales, add_flipped_images=e.add_flipped_images, crf_params=crf_params,
        crf_processes=FLAGS.crf_processes or None, batch_size=FLAGS.eval_batch_size,
        pad_multiple=eval_output_stride(configs) or 16, crop_size=crop,
        panels_dir=os.path.join(FLAGS.output_dir, "panels"),
        num_panels=FLAGS.num_panels, colours=viz.palette(d.dataset), total=total,
        tiling=tiles,
        label_ids_dir=os.path.join(FLAGS.output_dir, "label_ids") if FLAGS.save_label_ids
        else None, label_ids_dataset=d.dataset)
    if result["images"] == 0:
        _fail(f"split {split!r} of {FLAGS.data_folder or d.data_dir} has no images")
    settings = {"model": predictor.path, "dataset": d.dataset, "split": split,
                "eval_scales": scales, "add_flipped_images": e.add_flipped_images,
                "eval_output_stride": eval_output_stride(configs),
                "crf": None if crf_params is None else crf_params.__dict__,
                "tiling": None if tiles is None else tiles.__dict__}
    write_outputs(result, FLAGS.output_dir, info.class_names, settings)
    m = result["metrics"]
    print(f"{result['images']} images{' (+CRF)' if crf_params else ''}: {metrics_line(m)}")
    if crf_params:
        w = result["without_crf"]
        print(f"without CRF: pixel_accuracy={100 * w['pixel_accuracy']:.2f} "
              f"mean_iou={100 * w['mean_iou']:.2f}")
    print(f"wrote {os.path.join(FLAGS.output_dir, 'metrics.json')}")


def run_distributed(configs, info, scales):
    """--strategy=mirrored|multi_worker_mirrored|tpu: TFRecords, single scale, no flip/CRF."""
    d, e, t = configs["data"], configs["eval"], configs["train"]
    from deeplab_tf.training import strategy as strategy_lib
    from deeplab_tf import metrics as metrics_lib
    if e.crf or e.add_flipped_images or scales != (1.0,) or not d.data_dir:
        _fail(f"--strategy={t.strategy} evaluates TFRecords (--data_dir) at a single scale "
              "without flip or CRF; drop --crf/--add_flipped_images/--eval_scales or use "
              "--strategy=default")
    if t.num_cpu_replicas:
        strategy_lib.split_cpu(t.num_cpu_replicas)
    strategy = strategy_lib.make_strategy(t.strategy, t.tpu)
    with strategy.scope():
        predictor = load(FLAGS, configs)
    if predictor.kind != "keras":
        _fail(f"--strategy={t.strategy} needs a .keras model or a checkpoint, not "
              f"{predictor.path}")
    if predictor.num_classes != info.num_classes:
        _fail(f"model {predictor.path} predicts {predictor.num_classes} classes but the "
              f"dataset has {info.num_classes}")
    data = data_config(configs)
    data = type(data)(**{**data.__dict__, "batch_size": FLAGS.eval_batch_size,
                         "output_stride": eval_output_stride(configs) or data.output_stride})
    from deeplab_tf.data.pipeline import build_dataset
    start = time.time()
    matrix = metrics_lib.distributed_evaluation_matrix(
        predictor.model, strategy, lambda ctx: build_dataset(data, e.split, ctx, False),
        info.num_classes, max_batches=0)
    result = {"metrics": metrics_lib.compute_metrics(matrix, info.class_names),
              "matrix": matrix,
              "images": None, "seconds": {"model": time.time() - start, "crf": 0.0}}
    settings = {"model": predictor.path, "dataset": d.dataset, "split": e.split,
                "eval_scales": scales, "add_flipped_images": False,
                "eval_output_stride": eval_output_stride(configs), "crf": None,
                "strategy": t.strategy, "replicas": strategy.num_replicas_in_sync}
    write_outputs(result, FLAGS.output_dir, info.class_names, settings)
    m = result["metrics"]
    print(f"{strategy.num_replicas_in_sync} replicas: {metrics_line(m)}")
    print(f"wrote {os.path.join(FLAGS.output_dir, 'metrics.json')}")


def data_config(configs):
    """The DataConfig to read the eval split with; with --prepare_synthetic (the quickstart
    flagfile) the synthetic dataset is generated/prepared under --data_dir as deeplab_tf.train
    does. Images are padded for the training output stride unless one is given."""
    import dataclasses
    data = dataclasses.replace(configs["data"],
                               output_stride=configs["model"].output_stride or 16)
    if data.prepare_synthetic:
        from deeplab_tf.data.synthetic import ensure_synthetic
        data = dataclasses.replace(data, data_dir=ensure_synthetic(data.data_dir))
    return data


def _prepared_count(data, split):
    """Number of examples of `split` in the prepared folder (for the progress bar)."""
    if data.source != "tfrecord":
        return None
    from deeplab_tf.data import records
    return records.read_info(data.data_dir).get("splits", {}).get(split, {}).get("num_examples")


def _backbone_of(predictor):
    """The CRF defaults follow the backbone (VGG-16 values for v1/v2 VGG models)."""
    import deeplab_tf
    name = getattr(predictor.model, "name", None)
    if name not in deeplab_tf.list_presets():
        return None
    from deeplab_tf.models.builder import model_info
    return model_info(name)["backbone"].name


def _take(iterable, n):
    for i, item in enumerate(iterable):
        if i >= n:
            return
        yield item


if __name__ == "__main__":
    define_flags()
    app.run(main)

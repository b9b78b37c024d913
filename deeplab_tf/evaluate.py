"""Evaluate a model on a whole split: confusion matrix, the FCN metrics, pictures.

    python -m deeplab_tf.evaluate --flagfile=experiments/NAME.flags --checkpoint=RUN_DIR \
        [--eval_scales=0.5,0.75,1.0,1.25,1.5,1.75] [--add_flipped_images] \
        [--eval_output_stride=8] [--crf] --output_dir=DIR
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
import json
import os
import sys
import time

import numpy as np
from absl import app, flags

from deeplab_tf import flags as common_flags

FLAGS = flags.FLAGS


def define_flags():
    """Defines the flags (only when run as a program, so importing this module as a library
    never touches absl FLAGS). The training flag groups are defined too, so
    `--flagfile=experiments/X.flags` parses as is."""
    for group in ("define_model_flags", "define_data_flags", "define_train_flags",
                  "define_eval_flags", "define_export_flags"):
        getattr(common_flags, group, lambda: None)()
    _define("string", "checkpoint", None, "Training model_dir or checkpoint prefix to evaluate.")
    _define("string", "model", None, "A .keras file, a SavedModel folder or a .tflite file.")
    _define("string", "output_dir", None, "Where metrics.json and the pictures go.")
    _define("string", "data_folder", None, "Raw dataset folder (official layout) instead of "
            "--data_dir TFRecords.")
    _define("integer", "eval_batch_size", 4, "Images per model call.")
    _define("integer", "max_images", 0, "Evaluate only the first N images (0: all).")
    _define("integer", "num_panels", 8, "Write image|prediction|CRF|truth panels for N images.")
    _define("integer", "crf_processes", 0, "CRF worker processes (0: one per CPU core).")
    _define("string", "crf_params", None, "JSON file of CRF parameters (crf_search output); "
            "default: the DeepLab v2 values for the backbone.")
    _define("enum", "tflite_input_range", "auto", ["auto", "0_255", "minus_one_to_one"],
            "Input range of a float .tflite (auto: official files take [-1, 1]).")


def _define(kind, name, default, *args):
    if name not in FLAGS:
        getattr(flags, f"DEFINE_{kind}")(name, default, *args)


def _fail(message):
    sys.exit(f"evaluate: error: {message}")


# ---------------------------------------------------------------------------------------------
# Model loading
# ---------------------------------------------------------------------------------------------
def load_checkpoint(path, output_stride=None):
    """A training checkpoint -> keras.Model (rebuilt from model_signature.json)."""
    import tensorflow as tf
    import deeplab_tf
    from deeplab_tf.training import checkpoints
    prefix = tf.train.latest_checkpoint(path) if os.path.isdir(path) else path
    if not prefix or not tf.io.gfile.exists(prefix + ".index"):
        raise FileNotFoundError(f"--checkpoint={path}: no TF checkpoint found (expected a "
                                "training model_dir or a checkpoint prefix with .index)")
    folder = path if os.path.isdir(path) else os.path.dirname(prefix)
    signature = checkpoints.read_signature(folder)
    if signature is None:
        raise FileNotFoundError(f"--checkpoint={path}: {checkpoints.SIGNATURE_FILE} is missing "
                                f"in {folder}; it names the architecture to rebuild")
    model = deeplab_tf.build_model(
        signature["preset"], num_classes=signature["num_classes"],
        output_stride=output_stride or signature["output_stride"],
        **dict(tuple(kv) for kv in signature["overrides"]))
    status = tf.train.Checkpoint(model=model).restore(prefix).expect_partial()
    status.assert_existing_objects_matched()   # every model weight found in the checkpoint
    return model, prefix


def load(config_flags):
    from deeplab_tf import inference
    if bool(config_flags.checkpoint) == bool(config_flags.model):
        _fail("pass exactly one of --checkpoint=PATH or --model=PATH")
    eval_os = eval_output_stride()
    if config_flags.checkpoint:
        model, prefix = load_checkpoint(config_flags.checkpoint, eval_os)
        return inference.predictor_from_keras(model, prefix)
    overrides = dict(_overrides())
    predictor = inference.load_predictor(
        config_flags.model, tflite_input_range=config_flags.tflite_input_range)
    if eval_os and predictor.kind == "keras":
        model = inference.rebuild_at_output_stride(
            predictor.model, eval_os, FLAGS.preset if FLAGS["preset"].present else None,
            **overrides)
        predictor = inference.predictor_from_keras(model, config_flags.model)
    elif eval_os:
        _fail(f"--output_stride/--eval_output_stride={eval_os} needs a .keras model or a "
              "checkpoint; "
              f"{config_flags.model} has its output stride fixed at export")
    return predictor


def eval_output_stride():
    """--eval_output_stride, else --output_stride (the issue's spelling), else None (keep)."""
    return FLAGS.eval_output_stride or FLAGS.output_stride


def _overrides():
    from deeplab_tf.config import parse_overrides
    return parse_overrides(FLAGS.model_overrides) if "model_overrides" in FLAGS else ()


# ---------------------------------------------------------------------------------------------
# Data: (id, image uint8 [H, W, 3], label [H, W]) triples
# ---------------------------------------------------------------------------------------------
def folder_examples(folder, dataset, split):
    """Raw files in the official layout; a missing label file is an error naming it."""
    from PIL import Image
    from deeplab_tf.data import raw_examples, sources
    from deeplab_tf.data.datasets import get_dataset
    info = get_dataset(dataset)
    examples = sources.find_examples(dataset, [folder], split)
    for ex in examples:
        if ex.image_path is None:
            raise FileNotFoundError(f"image of {ex.id} is missing: expected {ex.expected_image}")
        if ex.label_path is None:
            raise FileNotFoundError(f"ground truth of {ex.id} is missing: expected "
                                    f"{ex.expected_label}")
    for ex in examples:
        image = np.asarray(Image.open(ex.image_path).convert("RGB"))
        label = raw_examples.read_label(ex.label_path)
        if info.label_map is not None:
            label = np.asarray(info.label_map, np.uint8)[label]
        yield ex.id, image, label, ex.label_path


def record_examples(data_config, split):
    """TFRecords through build_dataset (eval mode), cropped back to each valid region."""
    from deeplab_tf.data.pipeline import build_dataset
    for batch in build_dataset(data_config, split, training=False):
        for i in range(batch["image"].shape[0]):
            h, w = int(batch["height"][i]), int(batch["width"][i])
            image = batch["image"][i, :h, :w].numpy().round().clip(0, 255).astype(np.uint8)
            yield (batch["id"][i].numpy().decode(), image, batch["label"][i, :h, :w].numpy(),
                   f"{split} record {batch['id'][i].numpy().decode()}")


# ---------------------------------------------------------------------------------------------
# The evaluation
# ---------------------------------------------------------------------------------------------
def evaluate(predictor, examples, num_classes, *, class_names, eval_scales=(1.0,),
             add_flipped_images=False, crf_params=None, crf_processes=None, batch_size=4,
             pad_multiple=16, crop_size=None, panels_dir=None, num_panels=0, colours=None,
             ignore_label=255, total=None, progress=True):
    """Confusion matrices over all examples (iterable of (id, image, label, source)).

    Returns {"metrics": ..., "matrix": [C, C], "without_crf": ... (with CRF), "images": n,
    "seconds": {...}}.
    """
    from tqdm import tqdm
    from deeplab_tf import inference, viz
    from deeplab_tf.postprocess import crf as crf_lib
    from deeplab_tf.training.metrics import ConfusionMatrix
    if predictor.num_classes is not None and predictor.num_classes != num_classes:
        raise ValueError(f"model {predictor.path} predicts {predictor.num_classes} classes but "
                         f"the dataset has {num_classes} ({', '.join(class_names[:4])}, ...)")
    if crf_params is not None and predictor.output == inference.LABELS:
        raise ValueError(f"--crf needs probabilities; {predictor.path} outputs labels only")
    if panels_dir and num_panels:
        os.makedirs(panels_dir, exist_ok=True)
    plain = ConfusionMatrix(num_classes, ignore_label, class_names)
    refined = ConfusionMatrix(num_classes, ignore_label, class_names) if crf_params else None
    refiner = crf_lib.CRFRefiner(crf_params, crf_processes) if crf_params else None
    seconds = {"model": 0.0, "crf": 0.0}
    count = 0
    bar = tqdm(total=total, unit="img", desc="evaluate", disable=not progress)

    def flush(chunk):
        nonlocal count
        ids, images, labels, sources = zip(*chunk)
        start = time.time()
        if predictor.output == inference.LABELS:
            probs, preds = None, inference.predict_labels(
                predictor, list(images), eval_scales, add_flipped_images, batch_size,
                pad_multiple, crop_size)
        else:
            probs = inference.predict_probabilities(
                predictor, list(images), eval_scales, add_flipped_images, batch_size,
                pad_multiple, crop_size)
            preds = [p.argmax(-1) for p in probs]
        seconds["model"] += time.time() - start
        crf_preds = [None] * len(preds)
        if refiner:
            start = time.time()
            crf_preds = [q.argmax(-1) for q in refiner.refine(images, probs)]
            seconds["crf"] += time.time() - start
        for i, (pred, cpred) in enumerate(zip(preds, crf_preds)):
            plain.update(labels[i], pred, name=sources[i])
            if refined:
                refined.update(labels[i], cpred, name=sources[i])
            if panels_dir and count < num_panels:
                viz.panel(images[i], pred, os.path.join(panels_dir, f"{ids[i]}.png"), colours,
                          class_names, crf=cpred, label=labels[i], title=ids[i])
            count += 1
        bar.update(len(chunk))

    try:
        chunk = []
        for example in examples:
            chunk.append(example)
            if len(chunk) == batch_size:
                flush(chunk)
                chunk = []
        if chunk:
            flush(chunk)
    finally:
        bar.close()
        if refiner:
            refiner.close()
    result = {"images": count, "seconds": seconds}
    if refined:
        result.update(metrics=refined.metrics(), matrix=refined.matrix,
                      without_crf=plain.metrics(), matrix_without_crf=plain.matrix)
    else:
        result.update(metrics=plain.metrics(), matrix=plain.matrix)
    return result


def metrics_line(metrics):
    """The four FCN metrics in percent on one console line."""
    return " ".join(f"{key}={100 * metrics[key]:.2f}" for key in
                    ("pixel_accuracy", "mean_accuracy", "mean_iou", "frequency_weighted_iou"))


def markdown_table(metrics, title):
    lines = [f"# {title}", "", "| metric | value (%) |", "|---|---|"]
    for key in ("pixel_accuracy", "mean_accuracy", "mean_iou", "frequency_weighted_iou"):
        lines.append(f"| {key} | {100 * metrics[key]:.2f} |")
    lines += ["", "| class | IoU (%) |", "|---|---|"]
    for name, value in metrics["per_class_iou"].items():
        lines.append(f"| {name} | {'n/a (absent)' if value is None else f'{100 * value:.2f}'} |")
    return "\n".join(lines) + "\n"


def write_outputs(result, output_dir, class_names, settings):
    from deeplab_tf import viz
    os.makedirs(output_dir, exist_ok=True)
    metrics = dict(result["metrics"])
    if "without_crf" in result:
        metrics["without_crf"] = result["without_crf"]
        np.save(os.path.join(output_dir, "confusion_matrix_without_crf.npy"),
                result["matrix_without_crf"])
    metrics.update(images=result["images"], seconds=result["seconds"], settings=settings)
    with open(os.path.join(output_dir, "metrics.json"), "w") as f:
        json.dump(metrics, f, indent=1)
    # The last two path parts name the model without a long absolute path cutting the title.
    model_name = os.path.join(*os.path.normpath(str(settings["model"])).split(os.sep)[-2:])
    title = f"{model_name} on {settings['dataset']} {settings['split']}"
    text = markdown_table(result["metrics"], title + (" (+CRF)" if "without_crf" in result else ""))
    if "without_crf" in result:
        text += "\n" + markdown_table(result["without_crf"], title + " (without CRF)")
    with open(os.path.join(output_dir, "metrics.md"), "w") as f:
        f.write(text)
    np.save(os.path.join(output_dir, "confusion_matrix.npy"), result["matrix"])
    viz.plot_confusion_matrix(result["matrix"], class_names,
                              os.path.join(output_dir, "confusion_matrix.png"), title=title)


def main(argv):
    del argv
    try:
        run()
    except (ValueError, FileNotFoundError, OSError) as error:
        sys.exit(f"evaluate: error: {error}")


def run():
    from deeplab_tf import viz
    from deeplab_tf.data.datasets import get_dataset
    from deeplab_tf.postprocess import crf as crf_lib
    if not FLAGS.output_dir:
        _fail("--output_dir is required")
    if not FLAGS.data_folder and not FLAGS.data_dir:
        _fail("pass --data_folder=RAW_FOLDER (official layout) or --data_dir=TFRECORDS")
    info = get_dataset(FLAGS.dataset)
    try:
        scales = tuple(float(s) for s in FLAGS.eval_scales)
    except ValueError:
        _fail(f"--eval_scales={','.join(FLAGS.eval_scales)}: expected numbers like 0.5,1.0,1.5")
    if not scales or any(s <= 0 for s in scales):
        _fail(f"--eval_scales={FLAGS.eval_scales}: scales must be > 0")
    if "strategy" in FLAGS and FLAGS.strategy != "default":
        return run_distributed(info, scales)
    predictor = load(FLAGS)
    crf_params = None
    if FLAGS.crf:
        if FLAGS.crf_params:
            with open(FLAGS.crf_params) as f:
                crf_params = crf_lib.CRFParams(**json.load(f)["best"])
        else:
            crf_params = crf_lib.default_params(_backbone_of(predictor))
    split = FLAGS.eval_split
    if FLAGS.data_folder:
        examples = folder_examples(FLAGS.data_folder, FLAGS.dataset, split)
        total = None
    else:
        data = data_config()
        examples = record_examples(data, split)
        total = _prepared_count(data, split)
    if FLAGS.max_images:
        examples = _take(examples, FLAGS.max_images)
    crop = tuple(int(v) for v in FLAGS.eval_crop_size) if FLAGS.eval_crop_size else None
    result = evaluate(
        predictor, examples, info.num_classes, class_names=info.class_names,
        eval_scales=scales, add_flipped_images=FLAGS.add_flipped_images, crf_params=crf_params,
        crf_processes=FLAGS.crf_processes or None, batch_size=FLAGS.eval_batch_size,
        pad_multiple=eval_output_stride() or 16, crop_size=crop,
        panels_dir=os.path.join(FLAGS.output_dir, "panels"),
        num_panels=FLAGS.num_panels, colours=viz.palette(FLAGS.dataset), total=total)
    if result["images"] == 0:
        _fail(f"split {split!r} of {FLAGS.data_folder or FLAGS.data_dir} has no images")
    settings = {"model": predictor.path, "dataset": FLAGS.dataset, "split": split,
                "eval_scales": scales, "add_flipped_images": FLAGS.add_flipped_images,
                "eval_output_stride": eval_output_stride(),
                "crf": None if crf_params is None else crf_params.__dict__}
    write_outputs(result, FLAGS.output_dir, info.class_names, settings)
    m = result["metrics"]
    print(f"{result['images']} images{' (+CRF)' if crf_params else ''}: {metrics_line(m)}")
    if crf_params:
        w = result["without_crf"]
        print(f"without CRF: pixel_accuracy={100 * w['pixel_accuracy']:.2f} "
              f"mean_iou={100 * w['mean_iou']:.2f}")
    print(f"wrote {os.path.join(FLAGS.output_dir, 'metrics.json')}")


def run_distributed(info, scales):
    """--strategy=mirrored|multi_worker_mirrored|tpu: TFRecords, single scale, no flip/CRF."""
    from deeplab_tf.training import strategy as strategy_lib
    from deeplab_tf.training import metrics as metrics_lib
    if FLAGS.crf or FLAGS.add_flipped_images or scales != (1.0,) or not FLAGS.data_dir:
        _fail(f"--strategy={FLAGS.strategy} evaluates TFRecords (--data_dir) at a single scale "
              "without flip or CRF; drop --crf/--add_flipped_images/--eval_scales or use "
              "--strategy=default")
    if FLAGS.num_cpu_replicas:
        strategy_lib.split_cpu(FLAGS.num_cpu_replicas)
    strategy = strategy_lib.make_strategy(FLAGS.strategy, FLAGS.tpu)
    with strategy.scope():
        predictor = load(FLAGS)
    if predictor.kind != "keras":
        _fail(f"--strategy={FLAGS.strategy} needs a .keras model or a checkpoint, not "
              f"{predictor.path}")
    if predictor.num_classes != info.num_classes:
        _fail(f"model {predictor.path} predicts {predictor.num_classes} classes but the "
              f"dataset has {info.num_classes}")
    data = data_config()
    data = type(data)(**{**data.__dict__, "batch_size": FLAGS.eval_batch_size,
                         "output_stride": eval_output_stride() or data.output_stride})
    from deeplab_tf.data.pipeline import build_dataset
    start = time.time()
    matrix = metrics_lib.distributed_evaluation_matrix(
        predictor.model, strategy, lambda ctx: build_dataset(data, FLAGS.eval_split, ctx, False),
        info.num_classes, max_batches=0)
    result = {"metrics": metrics_lib.compute_metrics(matrix, info.class_names),
              "matrix": matrix,
              "images": None, "seconds": {"model": time.time() - start, "crf": 0.0}}
    settings = {"model": predictor.path, "dataset": FLAGS.dataset, "split": FLAGS.eval_split,
                "eval_scales": scales, "add_flipped_images": False,
                "eval_output_stride": eval_output_stride(), "crf": None,
                "strategy": FLAGS.strategy, "replicas": strategy.num_replicas_in_sync}
    write_outputs(result, FLAGS.output_dir, info.class_names, settings)
    m = result["metrics"]
    print(f"{strategy.num_replicas_in_sync} replicas: {metrics_line(m)}")
    print(f"wrote {os.path.join(FLAGS.output_dir, 'metrics.json')}")


def data_config():
    """DataConfig from the flags; with --prepare_synthetic (the quickstart flagfile) the
    synthetic dataset is generated/prepared under --data_dir as deeplab_tf.train does."""
    import dataclasses
    from deeplab_tf.config import from_flags
    data = from_flags(FLAGS)["data"]
    if "prepare_synthetic" in FLAGS and FLAGS.prepare_synthetic:
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

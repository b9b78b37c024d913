"""Train a DeepLab model: python -m deeplab_tf.train --flagfile=experiments/NAME.flags [...]

Flags after --flagfile override it. Every flag is checked before any work starts (strategy,
batch split across replicas, dataset files, preset and overrides, --init, a checkpoint of
another architecture in --model_dir); a bad one gives a one-line error and exit code 2. The
resolved flags are written to MODEL_DIR/flags.txt (usable as a --flagfile).

Outputs in --model_dir: ckpt-* (tf.train.Checkpoint: exact resume), model_signature.json,
flags.txt, train/ (TensorBoard), model.keras (final weights), eval/ (metrics.json, metrics.md,
confusion_matrix.png, panels/), export/.
"""
if __name__ == "__main__":   # before TensorFlow is imported: its C++ log lines
    from deeplab_tf.quiet import quiet
    quiet()
import dataclasses
import os
import sys
import time

from absl import app, flags, logging

from deeplab_tf import flags as flag_defs
from deeplab_tf.config import from_flags, to_flagfile
from deeplab_tf.training.validation import (UsageError, check_replicas, resolve_class_weights,
                                           validate)

FLAGS = flags.FLAGS


def define_flags():
    """The flags of the command line (only when run as a program, so importing train.run as
    a library leaves the global absl FLAGS alone); every one is a config field."""
    for group in ("model", "data", "train", "eval", "export"):
        flag_defs.define_group(group)

EXIT_BAD_INPUT = 2
EXIT_DIVERGED = 3


# ---------------------------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------------------------
def run(configs, log=print):
    """Validates, trains, evaluates and exports one run described by `configs` (the dict of
    deeplab_tf.config.from_flagfile / from_flags); reads no absl flags, so it runs in a
    notebook as it does on the command line.

    Returns a dict of what was produced: "model_dir", "checkpoint", "model" (model.keras),
    "mean_iou" (final evaluation on the eval split), "metrics" (its metrics.json), "exports"
    ({format: path}, also as top-level "saved_model"/"tflite" keys), timings and the best
    checkpoint. Raises UsageError (a ValueError) naming the flag for a bad setting.
    """
    t0 = time.time()
    t, d, m, e, x = (configs[k] for k in ("train", "data", "model", "eval", "export"))
    dataset_info, info = validate(configs, d.train_split, e.split, d.prepare_synthetic)
    num_classes = info["num_classes"]
    if isinstance(t.class_weights, str):
        weights = resolve_class_weights(t.class_weights, d, d.train_split, num_classes)
        log(f"--class_weights={t.class_weights} -> "
            + ", ".join(f"{n} {w:.3g}" for n, w in zip(dataset_info.class_names, weights)))
        t = dataclasses.replace(t, class_weights=weights)

    import keras
    import tensorflow as tf
    from deeplab_tf.training import checkpoints as ckpt_lib
    from deeplab_tf.training import precision
    from deeplab_tf.training.initialization import check_init_architecture, initialize
    from deeplab_tf.training.strategy import is_chief, make_strategy, split_cpu

    if t.num_cpu_replicas > 0:
        split_cpu(t.num_cpu_replicas)
    if t.deterministic:
        keras.utils.set_random_seed(t.seed)
        tf.config.experimental.enable_op_determinism()
    try:
        strategy = make_strategy(t.strategy, t.tpu)
    except ValueError as error:
        raise UsageError(str(error)) from None
    policy, reason = precision.resolve(t.mixed_precision, strategy)
    if t.mixed_precision == "auto":
        log(f"--mixed_precision=auto -> {policy} ({reason})")
    t = dataclasses.replace(t, mixed_precision=policy)
    precision.apply(policy)
    worker_batch = check_replicas(strategy, d.batch_size, t.accumulation_steps)
    try:
        check_init_architecture(t.init, m, num_classes)
    except (ValueError, FileNotFoundError) as error:
        raise UsageError(str(error)) from None

    import deeplab_tf
    with strategy.scope():
        model = deeplab_tf.build_model(m.preset, num_classes=num_classes,
                                       output_stride=m.output_stride, **m.build_kwargs())
    model_config = dataclasses.replace(m, num_classes=num_classes,
                                       output_stride=info["output_stride"])
    signature = ckpt_lib.model_signature(model, model_config, num_classes, d.crop_size)
    try:
        ckpt_lib.check_same_architecture(ckpt_lib.read_signature(t.model_dir), signature,
                                         t.model_dir)
    except ckpt_lib.ArchitectureMismatch as error:
        raise UsageError(str(error)) from None

    # ---- data ----------------------------------------------------------------------------
    data_dir = d.data_dir
    if d.prepare_synthetic:
        from deeplab_tf.data.synthetic import ensure_synthetic
        log(f"preparing the synthetic dataset under {d.data_dir} ...")
        data_dir = ensure_synthetic(d.data_dir)
    data = dataclasses.replace(d, data_dir=data_dir, mean_pixel=tuple(info["mean_pixel"]),
                               ignore_label=dataset_info.ignore_label,
                               output_stride=e.output_stride or info["output_stride"],
                               deterministic=d.deterministic or t.deterministic, seed=t.seed)
    from deeplab_tf.data.pipeline import build_dataset

    def make_train_dataset(ctx):
        workers = ctx.num_input_pipelines
        # One "replica" per input pipeline: this worker's batch, its share of the shards.
        worker_ctx = (tf.distribute.InputContext(workers, ctx.input_pipeline_id, workers)
                      if workers > 1 else None)
        return build_dataset(dataclasses.replace(data, batch_size=d.batch_size), d.train_split,
                             input_context=worker_ctx, training=True)

    eval_data = dataclasses.replace(data, batch_size=max(1, worker_batch))

    def make_eval_dataset():
        return build_dataset(eval_data, e.split, training=False)

    # ---- initialisation (new runs only) --------------------------------------------------
    chief = is_chief(strategy)
    resuming = tf.train.latest_checkpoint(t.model_dir) is not None
    if t.init and not resuming:
        from deeplab_tf.weights.download import DownloadError
        try:   # files that do not fit: the errors name --init and the file
            initialize(model, t.init, info=info, model_config=model_config,
                       initialize_last_layer=t.initialize_last_layer, log=log,
                       sha256=t.init_sha256)
        except (ValueError, OSError, DownloadError) as error:
            raise UsageError(str(error)) from None
    if chief:
        tf.io.gfile.makedirs(t.model_dir)
        with tf.io.gfile.GFile(os.path.join(t.model_dir, "flags.txt"), "w") as f:
            # What was resolved at run time (--mixed_precision=auto -> the policy picked)
            # replaces what was asked, so the file reruns exactly this run.
            f.write(to_flagfile(configs, mixed_precision=t.mixed_precision))

    # ---- train ---------------------------------------------------------------------------
    from deeplab_tf.training.loop import train
    log(f"training {m.preset} ({model.count_params():,} parameters, {num_classes} classes, "
        f"OS{info['output_stride']}) on {d.dataset}/{d.train_split} with "
        f"{strategy.num_replicas_in_sync} replica(s), global batch {d.batch_size}, "
        f"{t.mixed_precision} -> {t.model_dir}")
    result = train(model, config=t, strategy=strategy, num_classes=num_classes,
                   logits_layers=info["logits_layers"],
                   make_train_dataset=make_train_dataset, global_batch_size=d.batch_size,
                   signature=signature, make_eval_dataset=make_eval_dataset,
                   ignore_label=dataset_info.ignore_label, final_eval=False, eval_split=e.split,
                   log=log)
    outputs = {"model_dir": t.model_dir, "checkpoint": result.checkpoint,
               "train_seconds": round(result.wall_seconds, 1),
               "images_per_second": round(result.images_per_second, 2)}
    if not chief:
        return outputs

    # ---- save, evaluate, export ------------------------------------------------------------
    keras_path = os.path.join(t.model_dir, "model.keras")
    from deeplab_tf.model_metadata import save_model
    save_model(model, keras_path, input_size=d.crop_size)   # export's default TFLite size
    outputs["model"] = keras_path
    eval_dir = e.output_dir or os.path.join(t.model_dir, "eval")
    settings = {"model": keras_path, "preset": m.preset, "dataset": d.dataset, "split": e.split,
                "step": int(result.step), "eval_scales": list(e.eval_scales),
                "add_flipped_images": e.add_flipped_images}
    metrics = final_evaluation(model, eval_data, e, dataset_info, num_classes, eval_dir,
                               settings, log, backbone=info["backbone"].name)
    outputs["metrics"] = os.path.join(eval_dir, "metrics.json")
    outputs["eval_pictures"] = os.path.join(eval_dir, "panels")
    outputs["mean_iou"] = metrics.get("mean_iou")
    outputs.update(_record_final(model, t.model_dir, signature, result, metrics, e,
                                 t.max_eval_batches, log))
    outputs["exports"] = {}
    if x.formats:
        from deeplab_tf.exporters.run import export_run
        outputs["exports"] = export_run(
            model, x, os.path.join(t.model_dir, "export"), data, e.split,
            class_names_for(dataset_info, model.output_shape[-1]), log)
        outputs.update(outputs["exports"])
    outputs["total_seconds"] = round(time.time() - t0, 1)
    return outputs


def _record_final(model, model_dir, signature, result, metrics, eval_config, max_eval_batches,
                  log):
    """The final evaluation joins the learning curve and (when it is plain single-scale
    evaluation of the whole split, like the periodic ones) competes for RUN/best; then the
    curve is drawn."""
    import tensorflow as tf
    from deeplab_tf.training.checkpoints import BestCheckpoint
    from deeplab_tf.training.learning_curve import plot_learning_curve
    produced = {}
    if metrics.get("mean_iou") is not None:
        writer = tf.summary.create_file_writer(os.path.join(model_dir, "train"))
        with writer.as_default(step=result.step):
            tf.summary.scalar("eval/mean_iou", metrics["mean_iou"])
        writer.close()
    best = BestCheckpoint(model_dir, model, signature)
    plain = (tuple(eval_config.eval_scales) == (1.0,) and not eval_config.add_flipped_images
             and not eval_config.crf and not max_eval_batches)
    if plain and metrics.get("mean_iou") is not None:
        best.update(result.step, metrics, eval_config.split)
    if best.record:
        record = best.record
        log(f"best: step {record['step']}, {record['split']} mIoU {record['mean_iou']:.4f} "
            f"-> {best.folder}")
        produced.update(best_checkpoint=best.folder, best_step=record["step"],
                        best_mean_iou=record["mean_iou"])
    curve = plot_learning_curve(model_dir)
    if curve:
        produced["learning_curve"] = curve
    return produced


def class_names_for(dataset_info, num_classes):
    """The dataset's class names, padded with class_<i> when the model has more classes."""
    names = list(dataset_info.class_names)[:num_classes]
    return names + [f"class_{i}" for i in range(len(names), num_classes)]


def final_evaluation(model, data, eval_config, dataset_info, num_classes, eval_dir, settings,
                     log, num_panels=8, backbone=None):
    """The held-out split through deeplab_tf.evaluate (inference.py's padding, eval scales and
    flips; the confusion matrix summed over the whole split), written the way `evaluate` writes
    it: metrics.json, metrics.md, confusion_matrix.png and image | prediction | truth panels.
    With eval_config.crf the predictions are refined by the DenseCRF with the papers' values
    for `backbone` (postprocess/crf.py), and metrics.json also holds "without_crf"."""
    import numpy as np
    from deeplab_tf import evaluation as evaluate_lib
    from deeplab_tf.postprocess import crf as crf_lib
    from deeplab_tf.predictors import predictor_from_keras
    names = class_names_for(dataset_info, num_classes)
    crf_params = crf_lib.default_params(backbone) if eval_config.crf else None
    settings = dict(settings, crf=eval_config.crf)
    result = evaluate_lib.evaluate(
        predictor_from_keras(model), evaluate_lib.record_examples(data, eval_config.split),
        num_classes, class_names=names,
        eval_scales=eval_config.eval_scales, add_flipped_images=eval_config.add_flipped_images,
        crf_params=crf_params, pad_multiple=data.output_stride,
        ignore_label=dataset_info.ignore_label,
        panels_dir=os.path.join(eval_dir, "panels"), num_panels=num_panels,
        colours=np.asarray(dataset_info.label_palette(), np.uint8), progress=False)
    evaluate_lib.write_outputs(result, eval_dir, names, settings)
    metrics = result["metrics"]
    crf_note = (f" with DenseCRF (without: {result['without_crf']['mean_iou']:.4f})"
                if eval_config.crf else "")
    log(f"evaluation on {eval_config.split} ({result['images']} images): mIoU "
        f"{metrics['mean_iou']:.4f}{crf_note}  pixel accuracy {metrics['pixel_accuracy']:.4f}")
    return metrics


def main(argv):
    if not FLAGS["verbosity"].present:   # TensorFlow's INFO lines drown the progress lines
        logging.set_verbosity(logging.WARNING)
    if len(argv) > 1:
        _fail(f"unexpected positional arguments {argv[1:]}; flags look like --name=value")
    from deeplab_tf.training.checkpoints import ArchitectureMismatch, CorruptCheckpoint
    from deeplab_tf.training.loop import TrainingDiverged
    try:
        configs = from_flags(FLAGS)
    except (ValueError, TypeError) as error:
        _fail(str(error))
    import tensorflow as tf
    try:
        outputs = run(configs)
    except (UsageError, ArchitectureMismatch, CorruptCheckpoint) as error:
        _fail(str(error))
    except (tf.errors.DataLossError, tf.errors.InvalidArgumentError) as error:
        from deeplab_tf.data import records
        if not records.is_read_error(error) or configs["data"].source != "tfrecord":
            raise
        _fail(records.describe_read_error(configs["data"].data_dir, error))
    except TrainingDiverged as error:
        print(f"train: error: {error}", file=sys.stderr)
        sys.exit(EXIT_DIVERGED)
    print("outputs:")
    for key, value in outputs.items():
        print(f"  {key}: {value}")


def _fail(message):
    print(f"train: error: {message}", file=sys.stderr)
    sys.exit(EXIT_BAD_INPUT)


def parse_flags(argv):
    """absl parsing with a clear message for unknown flags (also those in a --flagfile)."""
    try:
        return FLAGS(argv)
    except flags.Error as error:
        where = [a.split("=", 1)[1] for a in argv[1:] if a.startswith("--flagfile=")]
        hint = f" (command line or --flagfile {', '.join(where)})" if where else ""
        _fail(f"{error}{hint}; see --helpfull for the flags deeplab_tf.train accepts")


if __name__ == "__main__":
    define_flags()
    app.run(main, flags_parser=parse_flags)

"""The training loop: checkpoints, NaN guard, progress line, TensorBoard, periodic evaluation.

    train(model, ...)           builds the optimizer, restores the latest checkpoint of
                                model_dir (exact resume: weights, optimizer slots and
                                iterations, input iterator), runs compiled train steps, saves
                                every checkpoint_every steps and on exit.

The model must have been built under strategy.scope().
"""
import dataclasses
import math
from typing import Optional
import os
import signal
import time

import tensorflow as tf

from deeplab_tf.data.datasets import IGNORE_LABEL
from deeplab_tf.training import checkpoints as ckpt_lib
from deeplab_tf.training.evaluation import evaluate_miou, label_image
from deeplab_tf.training.optimization import build_optimizer, configure_batch_norm
from deeplab_tf.training.step import make_train_step
from deeplab_tf.training.strategy import input_context, is_chief, worker_dir


class TrainingDiverged(RuntimeError):
    """The loss became NaN or Inf."""


class _Terminated(Exception):
    pass


@dataclasses.dataclass
class TrainResult:
    step: int
    loss: float
    images_per_second: float
    wall_seconds: float
    eval_metrics: dict
    checkpoint: str
    best: Optional[dict] = None   # RUN/best/best.json: the step with the highest eval mIoU


def _format_eta(seconds):
    seconds = int(max(seconds, 0))
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def train(model, *, config, strategy, num_classes, make_train_dataset, global_batch_size,
          logits_layers=(), signature=None, make_eval_dataset=None, ignore_label=IGNORE_LABEL,
          final_eval=True, eval_split="", log=print):
    """Trains `model` to config.train_steps. Returns a TrainResult.

    Args:
      config: TrainConfig.
      make_train_dataset: fn(tf.distribute.InputContext) -> tf.data.Dataset of dicts with
        "image" [b, H, W, 3] and "label" [b, H, W], b = this worker's batch (the global batch
        divided by ctx.num_input_pipelines), sharded by ctx.input_pipeline_id.
      logits_layers: model_info(...)["logits_layers"] of the model, the layers whose gradients
        config.last_layer_gradient_multiplier scales; required when it is not 1.
      signature: checkpoints.model_signature(...) written beside the checkpoints and checked
        against an existing one before resuming.
      make_eval_dataset: fn() -> eval tf.data.Dataset (dicts with "image", "label"), or None.
      final_eval: also evaluate after the last step (train.py evaluates with
        deeplab_tf.evaluate instead).
      eval_split: the name of the evaluated split, recorded in RUN/best/best.json (with a
        signature, every evaluation that beats the best so far is kept in RUN/best).
    Raises:
      TrainingDiverged: non-finite loss (the last good checkpoint is kept, nothing is saved).
      checkpoints.ArchitectureMismatch: model_dir holds a checkpoint of another architecture.
    """
    chief = is_chief(strategy)
    save_dir = worker_dir(config.model_dir, strategy)
    if signature is not None:
        ckpt_lib.check_same_architecture(ckpt_lib.read_signature(config.model_dir), signature,
                                         config.model_dir)
    configure_batch_norm(model, num_replicas=strategy.num_replicas_in_sync,
                         fine_tune=config.fine_tune_batch_norm,
                         momentum=config.batch_norm_momentum)
    with strategy.scope():
        optimizer = build_optimizer(config)
        optimizer.build(model.trainable_variables)
    iterator = iter(make_train_dataset(input_context(strategy)))
    checkpoint = ckpt_lib.make_checkpoint(model, optimizer, optimizer.iterations, iterator)
    removed = ckpt_lib.remove_stale_files(save_dir)
    if removed:
        log(f"removed staging files of an interrupted save: {', '.join(removed)}")
    manager = tf.train.CheckpointManager(checkpoint, save_dir, max_to_keep=config.keep_checkpoints)
    restored = ckpt_lib.restore_latest_intact(checkpoint, manager, log)
    if restored:
        log(f"resumed from {restored} at step {_step_of(optimizer)}")
    elif signature is not None and chief:
        ckpt_lib.write_signature(config.model_dir, signature)
    best = (ckpt_lib.BestCheckpoint(config.model_dir, model, signature)
            if chief and signature is not None and make_eval_dataset is not None else None)
    train_step = make_train_step(model, optimizer, config, strategy, num_classes=num_classes,
                                 logits_layers=logits_layers, ignore_label=ignore_label)
    writer = (tf.summary.create_file_writer(os.path.join(config.model_dir, "train"))
              if chief else tf.summary.create_noop_writer())
    schedule = getattr(optimizer, "inner_optimizer", optimizer)._learning_rate

    def save(step):
        # Every worker takes part in saving; non-chief workers keep their own copy (their input
        # iterator position differs) in model_dir/_worker_tmp_*.
        return manager.save(checkpoint_number=step)

    previous = signal.signal(signal.SIGTERM, _raise_terminated) if _main_thread() else None
    step = _step_of(optimizer)
    start_step, start, window_start, window_step = step, time.time(), time.time(), step
    loss, images_per_second, eval_metrics, saved = float("nan"), 0.0, {}, None
    try:
        while step < config.train_steps:
            lr = float(schedule(step))  # the LR this update uses
            out = train_step(iterator)
            loss = float(out["loss"])
            step = _step_of(optimizer)
            if not math.isfinite(loss):
                raise TrainingDiverged(
                    f"loss is {loss} at step {step}: training stopped; the last good checkpoint "
                    f"({manager.latest_checkpoint or 'none'}) is kept. Lower "
                    "--base_learning_rate or check the data.")
            if step % config.checkpoint_every == 0:
                saved = save(step)
            now = time.time()
            if step % config.log_every == 0 or step == config.train_steps:
                images_per_second = (step - window_step) * global_batch_size / max(
                    now - window_start, 1e-9)
                eta = (config.train_steps - step) * global_batch_size / max(images_per_second,
                                                                            1e-9)
                log(f"step {step}/{config.train_steps}  loss {loss:.4f}  lr {lr:.3g}  "
                    f"{images_per_second:.2f} img/s  ETA {_format_eta(eta)}")
                window_start, window_step = now, step
            if step % config.summary_every == 0 or step == config.train_steps:
                with writer.as_default(step=step):
                    tf.summary.scalar("loss", loss)
                    tf.summary.scalar("regularization", float(out["regularization"]))
                    tf.summary.scalar("learning_rate", lr)
                    tf.summary.scalar("images_per_second", images_per_second)
            if make_eval_dataset is not None and chief and config.image_summary_every and (
                    step % config.image_summary_every == 0):
                _image_summaries(writer, model, make_eval_dataset(), step, num_classes)
            if make_eval_dataset is not None and chief and config.eval_every and (
                    step % config.eval_every == 0) and step < config.train_steps:
                eval_metrics = _periodic_eval(model, make_eval_dataset, config, num_classes,
                                              ignore_label, writer, step, log, best, eval_split)
    except (KeyboardInterrupt, _Terminated):
        log(f"interrupted at step {step}: saving a checkpoint")
        save(step)
        raise
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    if saved is None or not saved.endswith(f"-{step}"):
        if manager.latest_checkpoint is None or not manager.latest_checkpoint.endswith(
                f"-{step}"):
            saved = save(step)
        else:
            saved = manager.latest_checkpoint
    if make_eval_dataset is not None and final_eval and chief:
        eval_metrics = _periodic_eval(model, make_eval_dataset, config, num_classes,
                                      ignore_label, writer, step, log, best, eval_split)
    writer.flush()
    wall = time.time() - start
    if step > start_step:
        images_per_second = (step - start_step) * global_batch_size / max(wall, 1e-9)
    return TrainResult(step, loss, images_per_second, wall, eval_metrics,
                       manager.latest_checkpoint if chief else "",
                       best.record if best is not None else None)


def _step_of(optimizer):
    return int(tf.convert_to_tensor(optimizer.iterations.value).numpy())


def _raise_terminated(signum, frame):
    raise _Terminated(f"signal {signum}")


def _main_thread():
    import threading
    return threading.current_thread() is threading.main_thread()


def _periodic_eval(model, make_eval_dataset, config, num_classes, ignore_label, writer, step,
                   log, best=None, best_split=""):
    metrics = evaluate_miou(model, make_eval_dataset(), num_classes, ignore_label=ignore_label,
                            max_batches=config.max_eval_batches)
    kept = best is not None and best.update(step, metrics, best_split)
    log(f"eval at step {step}: mIoU {metrics['mean_iou']:.4f}  "
        f"pixel accuracy {metrics['pixel_accuracy']:.4f}"
        + (f"  (best so far -> {best.folder})" if kept else ""))
    with writer.as_default(step=step):
        tf.summary.scalar("eval/mean_iou", metrics["mean_iou"])
        tf.summary.scalar("eval/pixel_accuracy", metrics["pixel_accuracy"])
    return metrics


def _image_summaries(writer, model, dataset, step, num_classes, max_images=3):
    batch = next(iter(dataset))
    images = batch["image"][:max_images]
    logits = model(images, training=False)
    predictions = tf.argmax(logits, axis=-1, output_type=tf.int32)
    with writer.as_default(step=step):
        tf.summary.image("image", tf.cast(tf.clip_by_value(images, 0, 255), tf.uint8),
                         max_outputs=max_images)
        tf.summary.image("label", label_image(batch["label"][:max_images], num_classes),
                         max_outputs=max_images)
        tf.summary.image("prediction", label_image(predictions, num_classes),
                         max_outputs=max_images)

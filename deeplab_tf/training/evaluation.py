"""Evaluation during training: single-scale mIoU on the eval split. The confusion matrix and
the FCN metrics are deeplab_tf.metrics' (the same counting as `evaluate` and `evaluate
--strategy`). The full evaluation (multi-scale, flip, CRF) is deeplab_tf.evaluate."""
import numpy as np
import tensorflow as tf

from deeplab_tf import metrics as metrics_lib
from deeplab_tf.data.datasets import IGNORE_LABEL


def evaluation_matrix(model, dataset, num_classes, *, ignore_label=IGNORE_LABEL,
                      max_batches=0):
    """int64 [C, C]: the summed metrics.predicted_confusion_matrix of `model` over `dataset`
    (eval batches of build_dataset: dicts "image" [B,H,W,3], "label" [B,H,W] with padding
    labelled ignore_label, and optionally "height"/"width" valid regions)."""
    keys = ("image", "label", "height", "width")
    spec = getattr(dataset, "element_spec", None)
    # Eval batches differ in padded size: one trace for all of them (the dataset's own spec,
    # whose padded dimensions are None), else shape-generic retracing.
    count = tf.function(lambda batch: metrics_lib.predicted_confusion_matrix(
        model, batch, num_classes, ignore_label),
        input_signature=[{k: spec[k] for k in keys if k in spec}] if spec else None,
        reduce_retracing=spec is None)
    matrix = np.zeros([num_classes, num_classes], np.int64)
    for i, batch in enumerate(dataset):
        if max_batches and i >= max_batches:
            break
        matrix += count({k: batch[k] for k in keys if k in batch}).numpy()
    return matrix


def evaluate_miou(model, dataset, num_classes, *, ignore_label=IGNORE_LABEL, max_batches=0):
    """deeplab_tf.metrics.compute_metrics of evaluation_matrix (same arguments)."""
    return metrics_lib.compute_metrics(evaluation_matrix(
        model, dataset, num_classes, ignore_label=ignore_label, max_batches=max_batches))


def label_image(labels, num_classes):
    """int [B, H, W] -> uint8 [B, H, W, 1] grey levels spread over 0..255 (ignore -> 255)."""
    labels = tf.cast(labels, tf.int32)
    grey = labels * (255 // max(num_classes - 1, 1))
    grey = tf.where(labels >= num_classes, 255, grey)
    return tf.cast(tf.clip_by_value(grey, 0, 255), tf.uint8)[..., tf.newaxis]

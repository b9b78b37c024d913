"""Evaluation during training: single-scale mIoU on the eval split (the confusion matrix and
the FCN metrics are the eval module's, deeplab_tf.training.metrics). The full evaluation
(multi-scale, flip, CRF) is deeplab_tf.evaluate."""
import numpy as np
import tensorflow as tf

from deeplab_tf.data.datasets import IGNORE_LABEL
from deeplab_tf.training import metrics as metrics_lib


def evaluate_miou(model, dataset, num_classes, *, ignore_label=IGNORE_LABEL, max_batches=0):
    """Runs `model` over `dataset` (dicts "image" [B,H,W,3], "label" [B,H,W]; padding labelled
    ignore_label) and returns deeplab_tf.training.metrics.compute_metrics of the summed
    confusion matrix."""
    predict = tf.function(lambda x: tf.argmax(model(x, training=False), axis=-1,
                                              output_type=tf.int32),
                          input_signature=[tf.TensorSpec([None, None, None, 3], tf.float32)])
    matrix = np.zeros([num_classes, num_classes], np.int64)
    for i, batch in enumerate(dataset):
        if max_batches and i >= max_batches:
            break
        predictions = predict(tf.cast(batch["image"], tf.float32)).numpy()
        matrix += metrics_lib.confusion_matrix(batch["label"].numpy(), predictions, num_classes,
                                               ignore_label=ignore_label)
    return metrics_lib.compute_metrics(matrix)


def label_image(labels, num_classes):
    """int [B, H, W] -> uint8 [B, H, W, 1] grey levels spread over 0..255 (ignore -> 255)."""
    labels = tf.cast(labels, tf.int32)
    grey = labels * (255 // max(num_classes - 1, 1))
    grey = tf.where(labels >= num_classes, 255, grey)
    return tf.cast(tf.clip_by_value(grey, 0, 255), tf.uint8)[..., tf.newaxis]

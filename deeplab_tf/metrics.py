"""Confusion matrix and the FCN paper's segmentation metrics.

Notation (Long et al., "Fully Convolutional Networks", CVPR 2015, section 5): n_ij is the number
of pixels of class i predicted as class j (row = ground truth, column = prediction) and
t_i = sum_j n_ij the number of pixels of class i.

    pixel accuracy          = sum_i n_ii / sum_i t_i
    mean accuracy           = mean_i n_ii / t_i
    IoU_i                   = n_ii / (t_i + sum_j n_ji - n_ii)
    mean IoU                = mean_i IoU_i
    frequency-weighted IoU  = (sum_k t_k)^-1 sum_i t_i IoU_i

The matrix is accumulated over the whole split (not averaged per image), and pixels whose label
is the ignore label (255) are left out entirely, as the official research/deeplab eval.py does
(weights = labels != ignore_label, passed to tf.metrics.mean_iou).

Classes absent from both the labels and the predictions (IoU denominator 0): the official code
computes mIoU with tf.metrics.mean_iou, which divides the sum of IoUs by the number of classes
whose denominator is non-zero, i.e. such classes are EXCLUDED from the mean (not counted as 0
or 1). We follow that: their per-class IoU is reported as NaN (JSON null) and the means skip
them. Mean accuracy likewise skips classes with t_i = 0 (a class absent from the labels has no
accuracy); a class present in the predictions only still has IoU 0 and counts in the mean IoU.
If every class is excluded (no valid pixel at all) the means are 0, like tf.metrics.mean_iou.

One counting function, confusion_matrix_tf, turns (labels, predictions, valid mask, ignore
label) into the matrix for every evaluation path: deeplab_tf.evaluation (the `evaluate` CLI,
crf_search; numpy arrays at image size through confusion_matrix / ConfusionMatrix),
periodic evaluation during training (deeplab_tf.training.evaluation) and `evaluate
--strategy` (distributed_evaluation_matrix, which sums that function's per-replica matrices).
The two padded-batch paths count one eval batch of build_dataset through
predicted_confusion_matrix.
"""
import numpy as np

from deeplab_tf.data.datasets import IGNORE_LABEL  # the one definition (no TF import there)


# ---------------------------------------------------------------------------------------------
# NumPy in and out (inputs checked, counted by confusion_matrix_tf)
# ---------------------------------------------------------------------------------------------
def confusion_matrix(labels, predictions, num_classes, ignore_label=IGNORE_LABEL, name=None):
    """Confusion matrix of one image or batch of numpy arrays (checked, then counted by
    confusion_matrix_tf, the one counting function).

    Args:
      labels: int array [...] of ground-truth classes (ignore_label = not evaluated).
      predictions: int array of the same shape.
      num_classes: C.
      name: optional id of the image, named in error messages.
    Returns:
      int64 [C, C]: entry [i, j] = pixels of class i predicted as j.
    Raises:
      ValueError: shapes differ, or a label / prediction is outside 0..C-1 (besides ignore).
    """
    labels = np.asarray(labels)
    predictions = np.asarray(predictions)
    where = f" for {name}" if name else ""
    if labels.shape != predictions.shape:
        raise ValueError(
            f"prediction shape {predictions.shape} != label shape {labels.shape}{where}: "
            "predictions must be at label size (crop back / resize before scoring)")
    labels = labels.reshape(-1).astype(np.int64)
    predictions = predictions.reshape(-1).astype(np.int64)
    valid = labels != ignore_label
    for what, values in (("label", labels[valid]), ("prediction", predictions[valid])):
        if values.size and (values.min() < 0 or values.max() >= num_classes):
            bad = values[(values < 0) | (values >= num_classes)][0]
            raise ValueError(
                f"{what} value {bad}{where} is outside 0..{num_classes - 1} "
                f"(num_classes={num_classes}, ignore_label={ignore_label})")
    # Checked here (a TF op cannot name the image); the counting is the shared TF function.
    return confusion_matrix_tf(labels, predictions, num_classes, ignore_label).numpy()


def compute_metrics(matrix, class_names=None):
    """The four FCN metrics and per-class IoU / accuracy from a confusion matrix.

    Args:
      matrix: [C, C] counts (rows = ground truth, columns = prediction).
      class_names: optional C names for the per-class dicts.
    Returns:
      dict with floats pixel_accuracy, mean_accuracy, mean_iou, frequency_weighted_iou, and
      per_class_iou / per_class_accuracy: {name: float or None (class excluded, see module
      docstring)}, num_pixels, num_valid_classes.
    """
    m = np.asarray(matrix, dtype=np.float64)
    if m.ndim != 2 or m.shape[0] != m.shape[1]:
        raise ValueError(f"confusion matrix must be square [C, C], got shape {m.shape}")
    num_classes = m.shape[0]
    names = list(class_names) if class_names is not None else [str(i) for i in range(num_classes)]
    if len(names) != num_classes:
        raise ValueError(f"{len(names)} class names for a {num_classes}-class confusion matrix")
    diag = np.diag(m)
    t = m.sum(axis=1)                      # pixels per ground-truth class
    p = m.sum(axis=0)                      # pixels per predicted class
    total = t.sum()
    union = t + p - diag
    iou = np.where(union > 0, diag / np.maximum(union, 1), np.nan)
    acc = np.where(t > 0, diag / np.maximum(t, 1), np.nan)

    def _nanmean(x):
        return float(np.nanmean(x)) if np.isfinite(x).any() else 0.0

    return {
        "pixel_accuracy": float(diag.sum() / total) if total else 0.0,
        "mean_accuracy": _nanmean(acc),
        "mean_iou": _nanmean(iou),
        "frequency_weighted_iou": float(np.nansum(t * iou) / total) if total else 0.0,
        "per_class_iou": {n: (None if np.isnan(v) else float(v)) for n, v in zip(names, iou)},
        "per_class_accuracy": {n: (None if np.isnan(v) else float(v)) for n, v in zip(names, acc)},
        "num_pixels": int(total),
        "num_valid_classes": int(np.isfinite(iou).sum()),
    }


class ConfusionMatrix:
    """Streaming numpy accumulator: update() per image / batch, then metrics()."""

    def __init__(self, num_classes, ignore_label=IGNORE_LABEL, class_names=None):
        self.num_classes = num_classes
        self.ignore_label = ignore_label
        self.class_names = class_names
        self.matrix = np.zeros((num_classes, num_classes), np.int64)

    def update(self, labels, predictions, name=None):
        self.matrix += confusion_matrix(labels, predictions, self.num_classes, self.ignore_label,
                                        name=name)
        return self

    def merge(self, matrix):
        self.matrix += np.asarray(matrix, np.int64)
        return self

    def metrics(self):
        return compute_metrics(self.matrix, self.class_names)


# ---------------------------------------------------------------------------------------------
# TensorFlow (inside tf.function / a tf.distribute replica step)
# ---------------------------------------------------------------------------------------------
def confusion_matrix_tf(labels, predictions, num_classes, ignore_label=IGNORE_LABEL, mask=None):
    """The confusion matrix, counted the one way every evaluation path uses (a TF op, also
    inside tf.function / a tf.distribute replica step; no Python control flow on tensors).

    Args:
      labels: int tensor [...] (ignore_label pixels are skipped).
      predictions: int tensor of the same shape.
      num_classes: Python int C.
      mask: optional bool tensor of that shape; False pixels are skipped too (e.g. padding).
    Returns:
      int64 tensor [C, C]: entry [i, j] = pixels of class i predicted as j.
    """
    import tensorflow as tf
    labels = tf.cast(tf.reshape(labels, [-1]), tf.int64)
    predictions = tf.cast(tf.reshape(predictions, [-1]), tf.int64)
    valid = tf.not_equal(labels, ignore_label)
    if mask is not None:
        valid = tf.logical_and(valid, tf.reshape(tf.cast(mask, tf.bool), [-1]))
    index = tf.boolean_mask(labels * num_classes + predictions, valid)
    counts = tf.math.bincount(index, minlength=num_classes ** 2, maxlength=num_classes ** 2,
                              dtype=tf.int64)
    return tf.reshape(counts, [num_classes, num_classes])


def valid_region_mask(heights, widths, padded_shape):
    """bool [B, H, W]: True inside each image's valid (unpadded) top-left region.

    Args:
      heights, widths: int tensors [B] (the pipeline's "height"/"width").
      padded_shape: the [H, W] of the padded batch (tensor or ints).
    """
    import tensorflow as tf
    rows = tf.range(padded_shape[0])[None, :, None] < tf.cast(heights, tf.int32)[:, None, None]
    cols = tf.range(padded_shape[1])[None, None, :] < tf.cast(widths, tf.int32)[:, None, None]
    return tf.logical_and(rows, cols)


def predicted_confusion_matrix(model, batch, num_classes, ignore_label=IGNORE_LABEL):
    """Single-scale confusion matrix of a keras.Model on one eval batch of build_dataset
    ("image" padded with the mean pixel, "label" padded with ignore_label and, when present,
    "height"/"width" valid regions); a TF op, for periodic evaluation and each replica of
    distributed_evaluation_matrix.

    The padded batch goes through the model as it is (images share the batch's padded size,
    the smallest OS*k+1 holding its largest image); the argmax is counted in the valid regions
    only, so padding never counts even where a dataset's labels do not mark it.
    """
    import tensorflow as tf
    logits = model(tf.cast(batch["image"], tf.float32), training=False)
    predictions = tf.argmax(logits, axis=-1, output_type=tf.int32)
    mask = None
    if "height" in batch and "width" in batch:
        mask = valid_region_mask(batch["height"], batch["width"], tf.shape(batch["label"])[1:3])
    return confusion_matrix_tf(batch["label"], predictions, num_classes, ignore_label, mask=mask)


def reduce_confusion_matrix(strategy, per_replica_matrix):
    """Sums per-replica confusion matrices across replicas (call outside strategy.run).

    Under a tf.distribute strategy each replica sees a different shard of the batch, so the
    split's matrix is the SUM of the replicas' matrices (never the mean).
    """
    import tensorflow as tf
    return strategy.reduce(tf.distribute.ReduceOp.SUM, per_replica_matrix, axis=None)


def distributed_evaluation_matrix(model, strategy, make_dataset, num_classes,
                                  ignore_label=IGNORE_LABEL, max_batches=0):
    """Single-scale whole-image evaluation of a keras.Model under a tf.distribute strategy
    (used by deeplab_tf.evaluate --strategy=...).

    make_dataset(input_context) -> eval batches of build_dataset. Each replica computes
    predicted_confusion_matrix of its share and the replicas' matrices are SUMMED
    (reduce_confusion_matrix). Returns int64 [C, C].
    """
    import tensorflow as tf
    dist = strategy.distribute_datasets_from_function(make_dataset)

    def replica(batch):
        # The split's last global batch may leave a replica with no image; convolutions on an
        # empty batch fail in oneDNN, so such a replica contributes a zero matrix.
        return tf.cond(tf.shape(batch["image"])[0] > 0,
                       lambda: predicted_confusion_matrix(model, batch, num_classes,
                                                          ignore_label),
                       lambda: tf.zeros([num_classes, num_classes], tf.int64))

    # One trace for every padded batch size (the spec's padded dimensions are None).
    @tf.function(input_signature=[dist.element_spec])
    def step(batch):
        return reduce_confusion_matrix(strategy, strategy.run(replica, args=(batch,)))

    matrix = np.zeros((num_classes, num_classes), np.int64)
    for i, batch in enumerate(dist):
        if max_batches and i >= max_batches:
            break
        matrix += step(batch).numpy()
    return matrix

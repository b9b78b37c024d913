"""Segmentation loss: softmax cross-entropy over valid pixels, as the official code computes it.

Official research/deeplab/utils/train_utils.add_softmax_cross_entropy_loss_for_each_scale:
  * logits are upsampled to the label size (not labels downsampled; v3 Sec. 4.1), align
    corners, and computed in float32 (mixed precision keeps only the network in 16 bit);
  * pixels labelled `ignore_label` (datasets.IGNORE_LABEL, 255) get weight 0, every other
    pixel the weight of its class (`label_weights`, default 1);
  * the weighted per-pixel losses are summed and divided by the number of pixels with non-zero
    weight; with hard-pixel mining only the top_k_percent_pixels largest losses are kept and
    the sum is divided by how many of them are non-zero.

Distribution: each replica divides its loss by the number of replicas, so the SUM all-reduce of
gradients (Keras optimizers in a replica context) gives the mean over replicas. With equal
per-replica batches that equals the one-replica loss on the global batch when every replica
has the same number of valid pixels, which is what the official multi-clone code did.
"""
import tensorflow as tf

from deeplab_tf.data.datasets import IGNORE_LABEL
from deeplab_tf.models.layers import resize_bilinear


def resize_logits(logits, labels):
    """Logits [B, h, w, C] -> float32 [B, H, W, C] at the size of labels [B, H, W]."""
    logits = tf.cast(logits, tf.float32)
    if (logits.shape[1] is not None and logits.shape[1:3] == labels.shape[1:3]):
        return logits
    return resize_bilinear(logits, tf.shape(labels)[1:3])


def pixel_losses(logits, labels, *, num_classes, ignore_label=IGNORE_LABEL, class_weights=None):
    """Per-pixel weighted cross-entropy.

    Args:
      logits: [B, h, w, C] (any float dtype; resized to the label size in float32).
      labels: int [B, H, W] (ignore_label = no loss).
      class_weights: None or a length-C sequence.
    Returns:
      (losses [B*H*W] float32, weights [B*H*W] float32).
    """
    labels = tf.cast(labels, tf.int32)
    logits = resize_logits(logits, labels)
    logits = tf.reshape(logits, [-1, num_classes])
    weights, safe_labels = _weights_and_safe_labels(labels, ignore_label, class_weights)
    losses = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=safe_labels, logits=logits)
    return losses * weights, weights


def _weights_and_safe_labels(labels, ignore_label, class_weights):
    """(weights [N] float32, labels [N] with ignored pixels set to class 0) of labels [...]."""
    labels = tf.reshape(tf.cast(labels, tf.int32), [-1])
    valid = tf.not_equal(labels, ignore_label)
    safe_labels = tf.where(valid, labels, tf.zeros_like(labels))
    if class_weights is None:
        return tf.cast(valid, tf.float32), safe_labels
    table = tf.constant(class_weights, tf.float32)
    return tf.where(valid, tf.gather(table, safe_labels), 0.0), safe_labels


def pixel_weights(labels, *, ignore_label=IGNORE_LABEL, class_weights=None):
    """Weight of every pixel of labels [...]: 0 for ignore_label, else its class weight (1
    without class_weights). Returns [N] float32, N = labels.size."""
    return _weights_and_safe_labels(labels, ignore_label, class_weights)[0]


def top_k_fraction(step, top_k_percent_pixels, hard_example_mining_step):
    """Official annealing: top_k goes linearly from 1.0 to top_k_percent_pixels over
    hard_example_mining_step steps (train_utils.py, `hard_example_mining_step`)."""
    if hard_example_mining_step <= 0 or top_k_percent_pixels >= 1.0:
        return tf.constant(top_k_percent_pixels, tf.float32)
    ratio = tf.minimum(1.0, tf.cast(step, tf.float32) / float(hard_example_mining_step))
    return (1.0 - ratio) + top_k_percent_pixels * ratio


def segmentation_loss(logits, labels, *, num_classes, ignore_label=IGNORE_LABEL,
                      class_weights=None, top_k=1.0, normalizer=None):
    """Scalar float32 loss of one replica's batch (before the division by replicas).

    Args:
      top_k: fraction of pixels kept by hard-pixel mining (python float 1.0 = all, or a tensor).
      normalizer: optional float32 count to divide by instead of this batch's non-zero weights
        (gradient accumulation divides every micro-batch by the whole replica batch's count).
    """
    losses, weights = pixel_losses(logits, labels, num_classes=num_classes,
                                   ignore_label=ignore_label, class_weights=class_weights)
    if isinstance(top_k, float) and top_k >= 1.0:
        total = tf.reduce_sum(losses)
        count = tf.reduce_sum(tf.cast(weights > 0, tf.float32))
    else:
        num = tf.shape(losses)[0]
        k = tf.maximum(1, tf.cast(tf.cast(top_k, tf.float32) * tf.cast(num, tf.float32),
                                  tf.int32))
        kept, _ = tf.math.top_k(losses, k=k, sorted=False)
        total = tf.reduce_sum(kept)
        count = tf.reduce_sum(tf.cast(kept > 0, tf.float32))
    if normalizer is not None:
        count = normalizer
    return tf.math.divide_no_nan(total, count)


def batch_normalizer(labels, *, hard_pixel_mining, accumulation_steps=1, ignore_label=IGNORE_LABEL,
                     class_weights=None):
    """What every micro-batch's summed loss is divided by, for one replica's batch.

    Without hard-pixel mining: the replica batch's number of pixels with non-zero weight (at
    least 1), so accumulating micro-batches gives the same loss as one pass over the batch.
    With it: accumulation_steps, since each micro-batch's loss is already its top-k mean.

    Args:
      labels: int [B, H, W], the whole replica batch (all micro-batches).
    Returns:
      float32 scalar.
    """
    if hard_pixel_mining:
        return tf.constant(float(accumulation_steps))
    weights = pixel_weights(labels, ignore_label=ignore_label, class_weights=class_weights)
    return tf.maximum(tf.reduce_sum(tf.cast(weights > 0, tf.float32)), 1.0)


def training_loss(outputs, labels, *, num_classes, normalizer, top_k=1.0,
                  ignore_label=IGNORE_LABEL, class_weights=None):
    """The data loss of one micro-batch: the loss of every output scale, summed, divided by
    `normalizer` (batch_normalizer).

    The official code adds one loss per scale (train_utils
    add_softmax_cross_entropy_loss_for_each_scale, over the multi-scale outputs and their
    max fusion, DeepLab v2 Sec. 3.1). Without hard-pixel mining each scale contributes its
    weighted sum; with it (top_k a tensor, or a float < 1) its top-k mean.

    Args:
      outputs: list of logits [B, h_s, w_s, C] (step.forward: one per scale, plus the fusion).
      labels: int [B, H, W] of this micro-batch.
      top_k: fraction kept by hard-pixel mining (top_k_fraction), 1.0 = all pixels.
    Returns:
      float32 scalar (before the division by replicas).
    """
    hard_pixel_mining = not (isinstance(top_k, float) and top_k >= 1.0)
    data = 0.0
    for logits in outputs:
        data += segmentation_loss(
            logits, labels, num_classes=num_classes, ignore_label=ignore_label,
            class_weights=class_weights, top_k=top_k,
            normalizer=None if hard_pixel_mining else tf.constant(1.0))
    return data / normalizer


def l2_weight_decay(kernels, weight_decay):
    """slim.l2_regularizer convention: weight_decay * sum(w^2) / 2 over the given kernels.

    (tf.nn.l2_loss is sum(w^2)/2; the official code adds it once to the total loss. A Keras
    kernel_regularizer L2(l) is l * sum(w^2), so L2(wd / 2) would be the same.)
    """
    if not kernels or weight_decay == 0:
        return tf.constant(0.0, tf.float32)
    return weight_decay * tf.add_n([tf.nn.l2_loss(tf.cast(k, tf.float32)) for k in kernels])

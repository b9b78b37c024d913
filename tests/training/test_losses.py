"""Loss: ignore-label masking, valid-pixel normalisation, hard-pixel mining, class weights,
float32 logits, and the slim weight-decay convention."""
import numpy as np
import pytest
import tensorflow as tf

from deeplab_tf.training import losses


def _ce(logits, label):
    z = logits - logits.max()
    return -(z[label] - np.log(np.exp(z).sum()))


def _case():
    rng = np.random.RandomState(0)
    logits = rng.randn(2, 5, 5, 3).astype("float32")
    labels = rng.randint(0, 3, size=(2, 5, 5)).astype("int32")
    labels[0, 0, :] = 255  # ignored pixels
    return logits, labels


def _per_pixel(logits, labels):
    return np.array([_ce(logits[b, i, j], labels[b, i, j]) if labels[b, i, j] != 255 else 0.0
                     for b in range(2) for i in range(5) for j in range(5)])


def test_mean_over_valid_pixels_ignores_255():
    logits, labels = _case()
    expected = _per_pixel(logits, labels).sum() / (labels != 255).sum()
    got = float(losses.segmentation_loss(logits, labels, num_classes=3))
    assert got == pytest.approx(expected, rel=1e-5)


def test_logits_are_upsampled_to_label_size_in_float32():
    logits, labels = _case()
    small = tf.cast(tf.constant(logits[:, ::2, ::2]), tf.bfloat16)  # 3x3 -> 5x5, align corners
    out = losses.segmentation_loss(small, labels, num_classes=3)
    assert out.dtype == tf.float32
    up = tf.compat.v1.image.resize_bilinear(tf.cast(small, tf.float32), [5, 5],
                                            align_corners=True).numpy()
    expected = _per_pixel(up, labels).sum() / (labels != 255).sum()
    assert float(out) == pytest.approx(expected, rel=1e-5)


def test_top_k_percent_pixels_keeps_the_hardest():
    logits, labels = _case()
    per = _per_pixel(logits, labels)
    k = int(0.25 * per.size)
    top = np.sort(per)[::-1][:k]
    expected = top.sum() / (top > 0).sum()
    got = float(losses.segmentation_loss(logits, labels, num_classes=3, top_k=0.25))
    assert got == pytest.approx(expected, rel=1e-5)


def test_hard_example_mining_anneals_from_all_pixels():
    assert float(losses.top_k_fraction(0, 0.2, 100)) == pytest.approx(1.0)
    assert float(losses.top_k_fraction(50, 0.2, 100)) == pytest.approx(0.6)
    assert float(losses.top_k_fraction(500, 0.2, 100)) == pytest.approx(0.2)


def test_class_weights():
    logits, labels = _case()
    weights = np.array([0.0, 1.0, 3.0], "float32")
    per = _per_pixel(logits, labels)
    w = np.where(labels.reshape(-1) == 255, 0.0, weights[np.minimum(labels.reshape(-1), 2)])
    expected = (per * w).sum() / (w > 0).sum()
    got = float(losses.segmentation_loss(logits, labels, num_classes=3,
                                         class_weights=tuple(weights)))
    assert got == pytest.approx(expected, rel=1e-5)


def test_weight_decay_is_slim_l2_half_sum_of_squares():
    kernels = [tf.constant([[1.0, 2.0]]), tf.constant([3.0])]
    # slim l2_regularizer(wd)(w) = wd * sum(w^2) / 2 -> 0.1 * (1 + 4 + 9) / 2 = 0.7
    assert float(losses.l2_weight_decay(kernels, 0.1)) == pytest.approx(0.7)


def test_training_loss_sums_scales_over_the_replica_batch_count():
    """The step's loss: every output scale's weighted sum over the whole replica batch's
    valid-pixel count, so two accumulated half-batches give the one-pass loss; with hard-pixel
    mining each scale's top-k mean, over accumulation_steps."""
    logits, labels = _case()
    per = _per_pixel(logits, labels)
    count = losses.batch_normalizer(labels, hard_pixel_mining=False)
    assert float(count) == (labels != 255).sum()
    assert list(losses.pixel_weights(labels).numpy()) == list((labels != 255).reshape(-1) * 1.0)
    two_scales = losses.training_loss([logits, logits * 2.0], labels, num_classes=3,
                                      normalizer=count)
    expected = (per.sum() + _per_pixel(logits * 2.0, labels).sum()) / float(count)
    assert float(two_scales) == pytest.approx(expected, rel=1e-5)
    halves = sum(float(losses.training_loss([logits[i:i + 1]], labels[i:i + 1], num_classes=3,
                                            normalizer=count)) for i in range(2))
    assert halves == pytest.approx(float(losses.segmentation_loss(logits, labels,
                                                                  num_classes=3)), rel=1e-5)
    mined = losses.batch_normalizer(labels, hard_pixel_mining=True, accumulation_steps=2)
    got = losses.training_loss([logits], labels, num_classes=3, normalizer=mined,
                               top_k=tf.constant(0.25))
    top = np.sort(per)[::-1][:int(0.25 * per.size)]
    assert float(got) == pytest.approx(top.sum() / (top > 0).sum() / 2, rel=1e-5)

"""Label statistics and the two class weightings, against values computed by hand."""
import math

import numpy as np
import pytest

from deeplab_tf.data import label_stats


def _stats(labels, num_classes=3):
    total = None
    for label in labels:
        counts = np.bincount(np.asarray(label).ravel(), minlength=256)[:num_classes]
        total = label_stats.add_statistics(total, label_stats.example_statistics(counts))
    return total


# Two 2x4 labels (255 = ignore). Image A: 4 x class 0, 2 x class 1, 2 ignored.
# Image B: 2 x class 0, 6 x class 2. Class 1 appears only in A, class 2 only in B.
A = [[0, 0, 0, 0], [1, 1, 255, 255]]
B = [[0, 0, 2, 2], [2, 2, 2, 2]]


def test_statistics_sum_pixels_and_the_images_each_class_is_in():
    stats = _stats([A, B])
    assert stats["class_pixels"] == [6, 2, 6]
    # Labelled pixels of the images holding each class: A has 6, B has 8.
    assert stats["class_image_pixels"] == [14, 6, 8]
    assert stats["labelled_pixels"] == 14 and stats["num_examples"] == 2


def test_median_frequency_by_hand():
    # f = [6/14, 2/6, 6/8] = [0.4286, 0.3333, 0.75]; median 0.4286 -> w = median / f.
    weights = label_stats.median_frequency_weights(_stats([A, B]))
    f = [6 / 14, 2 / 6, 6 / 8]
    assert weights == pytest.approx([f[0] / f[0], f[0] / f[1], f[0] / f[2]])
    assert weights[1] == pytest.approx(9 / 7)


def test_inverse_log_frequency_by_hand():
    # p = [6/14, 2/14, 6/14]; w = 1 / ln(1.02 + p) (ENet).
    weights = label_stats.inverse_log_frequency_weights(_stats([A, B]))
    assert weights == pytest.approx([1 / math.log(1.02 + p) for p in (6 / 14, 2 / 14, 6 / 14)])


def test_absent_class_gets_zero_and_empty_split_is_an_error():
    stats = _stats([A], num_classes=4)   # classes 2 and 3 never appear
    assert label_stats.median_frequency_weights(stats)[2:] == (0.0, 0.0)
    assert label_stats.inverse_log_frequency_weights(stats)[3] == 0.0
    empty = _stats([[[255, 255]]])
    with pytest.raises(ValueError, match="no labelled pixels"):
        label_stats.class_weights("median_frequency", empty)
    with pytest.raises(ValueError, match="expected one of"):
        label_stats.class_weights("sqrt", empty)

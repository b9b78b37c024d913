"""deeplab_tf.geometry: one scale_dimension and one OS*k+1 padding size for Python ints and
tensors alike (the data pipeline and the train step pass tensors, inference passes ints)."""
import numpy as np
import tensorflow as tf

from deeplab_tf.geometry import padded_size, scale_dimension


def _official(dim, scale):
    # research/deeplab/core/utils.py scale_dimension, scalar branch.
    return int((float(dim) - 1.0) * scale + 1.0)


def test_scale_dimension_is_the_official_formula_for_ints_and_tensors():
    dims = [1, 2, 30, 33, 257, 321, 513, 1025, 2049]
    scales = [0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0]
    for scale in scales:
        expected = [_official(d, scale) for d in dims]
        assert [scale_dimension(d, scale) for d in dims] == expected
        assert [scale_dimension(np.int64(d), scale) for d in dims] == expected
        got = scale_dimension(tf.constant(dims), scale)   # one call for a whole shape vector
        assert got.dtype == tf.int32 and got.numpy().tolist() == expected
    assert scale_dimension(513, 0.5) == 257 and scale_dimension(513, 0.75) == 385
    assert scale_dimension(30, 0.5) == 15   # truncated, as the official int()


def test_padded_size_is_the_smallest_os_k_plus_1_for_ints_and_tensors():
    for stride in (8, 16, 32):
        for size in range(1, 80):
            padded, _ = padded_size(size, 1, stride)
            assert (padded - 1) % stride == 0 and padded >= size > padded - stride
    assert padded_size(500, 375, 16) == (513, 385) and padded_size(1024, 2048, 8) == (1025, 2049)
    height, width = padded_size(tf.constant(30), tf.constant(513), 16)   # inside Dataset.map
    assert (int(height), int(width)) == (33, 513)

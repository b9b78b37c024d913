"""SegNet's pooling indices as one-hot masks (models/unpooling.py) and the pad/crop layers."""
import numpy as np
import tensorflow as tf

from deeplab_tf.models.cropping import CropToReference, PadToMultiple
from deeplab_tf.models.unpooling import MaxPoolWithMask, MaxUnpool


def _unpool_with_argmax(x, values):
    """The reference: tf.nn.max_pool_with_argmax's flat indices, values scattered back."""
    _, argmax = tf.nn.max_pool_with_argmax(x, 2, 2, "VALID", include_batch_in_index=True)
    flat = tf.scatter_nd(tf.reshape(argmax, [-1, 1]), tf.reshape(values, [-1]),
                         [tf.size(x, out_type=tf.int64)])
    return tf.reshape(flat, tf.shape(x)).numpy()


def test_unpooling_puts_each_value_at_its_max_by_hand():
    # One 4x4 channel: windows [[1, 5], [3, 2]] (max at (0,1)), [[0, 0], [7, 0]] (max at
    # (1,0)), [[4, 4], [4, 4]] (a tie: the first position in scan order, (0,0)) and
    # [[-1, -3], [-2, -0.5]] (max -0.5 at (1,1)).
    x = np.array([[1, 5, 0, 0],
                  [3, 2, 7, 0],
                  [4, 4, -1, -3],
                  [4, 4, -2, -0.5]], "float32")
    pooled, mask = MaxPoolWithMask()(x[None, :, :, None])
    np.testing.assert_array_equal(pooled.numpy()[0, :, :, 0], [[5, 7], [4, -0.5]])
    values = np.array([[10, 20], [30, 40]], "float32")[None, :, :, None]
    out = MaxUnpool()([values, mask]).numpy()[0, :, :, 0]
    np.testing.assert_array_equal(out, [[0, 10, 0, 0],
                                        [0, 0, 20, 0],
                                        [30, 0, 0, 0],
                                        [0, 0, 0, 40]])


def test_unpooling_matches_max_pool_with_argmax_and_a_scatter_on_random_data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 6, 8, 5)).astype("float32")   # no ties in continuous data
    pooled, mask = MaxPoolWithMask()(x)
    expected_pooled, _ = tf.nn.max_pool_with_argmax(x, 2, 2, "VALID")
    np.testing.assert_array_equal(pooled.numpy(), expected_pooled.numpy())
    np.testing.assert_array_equal(mask.numpy().reshape(2, 3, 4, 4, 5).sum(axis=3), 1.0)
    values = rng.normal(size=pooled.shape).astype("float32")
    np.testing.assert_array_equal(MaxUnpool()([values, mask]).numpy(),
                                  _unpool_with_argmax(x, values))


def test_gradients_reach_the_maximum_and_the_unpooled_value_only():
    x = tf.constant(np.random.default_rng(1).normal(size=(1, 4, 4, 2)).astype("float32"))
    values = tf.constant(np.arange(1, 9, dtype="float32").reshape(1, 2, 2, 2))
    with tf.GradientTape(persistent=True) as tape:
        tape.watch([x, values])
        pooled, mask = MaxPoolWithMask()(x)
        out = MaxUnpool()([values, mask])
        loss = tf.reduce_sum(pooled) + tf.reduce_sum(out * 3.0)
    # d/dvalues: 3 at every value (each lands in exactly one position); d/dx: 1 at each max.
    np.testing.assert_array_equal(tape.gradient(loss, values).numpy(), 3.0)
    np.testing.assert_array_equal(tape.gradient(loss, x).numpy(),
                                  _unpool_with_argmax(x, tf.ones_like(pooled)))


def test_pad_to_multiple_and_crop_back_on_odd_and_even_sizes():
    for h, w in [(33, 47), (64, 64), (1, 2)]:
        x = tf.ones((1, h, w, 2))
        padded = PadToMultiple(32)(x)
        assert padded.shape == (1, -(-h // 32) * 32, -(-w // 32) * 32, 2)
        assert float(tf.reduce_sum(padded)) == h * w * 2   # zeros only at the bottom/right
        back = CropToReference()([padded, x])
        np.testing.assert_array_equal(back.numpy(), x.numpy())

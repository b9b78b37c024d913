"""SegNet's max-pooling with indices and its unpooling, from export-safe ops only.

SegNet (Badrinarayanan, Kendall & Cipolla, TPAMI 2017, Sec. 3 and Fig. 3) pools 2x2 windows
with stride 2, remembers where each maximum was, and its decoder upsamples by putting each
value back at that position (zeros elsewhere). tf.nn.max_pool_with_argmax returns flat
indices, but TFLite has no such op (and no scatter back from flat indices), so the position
is kept as a one-hot mask instead:

  taps   = space_to_depth(x, 2) split in 4: the window positions in scan order
           (0,0), (0,1), (1,0), (1,1), each [B, H/2, W/2, C]
  pooled = 2x2 max-pool of x                                  [B, H/2, W/2, C]
  mask_k = (tap_k == pooled) and no earlier tap was           [B, H/2, W/2, 4C] together
           (ties go to the first position in scan order, one 1 per window and channel)
  unpool(v, mask) = depth_to_space(tile(v, 4) * mask, 2)      [B, H, W, C]

Only MAX_POOL_2D, SPACE_TO_DEPTH, SPLIT, EQUAL, CAST, MUL, SUB, ADD, CONCATENATION, TILE and
DEPTH_TO_SPACE: all TFLite builtins. Where the window maximum is unique (any real-valued
activations in practice) this is exactly max_pool_with_argmax followed by a scatter
(tests/models/test_unpooling.py checks both and a hand-computed example). The mask carries no
gradient, as argmax indices do not: the gradient of the unpooling reaches the decoder value,
the gradient of the pooling reaches the maximum.
"""
import keras
import tensorflow as tf

WINDOW = 2   # SegNet: 2x2 max-pooling, stride 2 (non-overlapping windows)


@keras.saving.register_keras_serializable(package="deeplab_tf")
class MaxPoolWithMask(keras.layers.Layer):
    """x [B, H, W, C] (H, W even) -> (pooled [B, H/2, W/2, C], mask [B, H/2, W/2, 4C]).

    mask is one-hot over the 4 window positions, in space_to_depth's channel layout
    (position k = 2 * dy + dx holds channels k*C .. k*C + C - 1).
    """

    def call(self, x):
        pooled = tf.nn.max_pool2d(x, WINDOW, WINDOW, "VALID")
        taps = tf.split(tf.nn.space_to_depth(x, WINDOW), WINDOW * WINDOW, axis=-1)
        taken = tf.zeros_like(pooled)
        masks = []
        for tap in taps:
            first = tf.cast(tf.equal(tap, pooled), pooled.dtype) * (1.0 - taken)
            masks.append(first)
            taken = taken + first
        return pooled, tf.stop_gradient(tf.concat(masks, axis=-1))

    def compute_output_shape(self, input_shape):
        b, h, w, c = input_shape
        half = [None if d is None else d // WINDOW for d in (h, w)]
        return (b, *half, c), (b, *half, None if c is None else c * WINDOW * WINDOW)


@keras.saving.register_keras_serializable(package="deeplab_tf")
class MaxUnpool(keras.layers.Layer):
    """layer([values, mask]): values [B, h, w, C], mask [B, h, w, 4C] from MaxPoolWithMask ->
    [B, 2h, 2w, C], each value at its window's argmax position, zeros elsewhere."""

    def call(self, inputs):
        values, mask = inputs
        spread = tf.tile(values, [1, 1, 1, WINDOW * WINDOW]) * tf.cast(mask, values.dtype)
        return tf.nn.depth_to_space(spread, WINDOW)

    def compute_output_shape(self, input_shape):
        (b, h, w, c), _ = input_shape
        return (b, *[None if d is None else d * WINDOW for d in (h, w)], c)

"""AtrousConv2D: keras.layers.Conv2D with fast stride-1 dilated convolutions on CPU.

Why this exists (measured with oneDNN in TensorFlow 2.21 on an AVX-512/AMX CPU, one 3x3
2048->256 convolution on 4x41x41, the ASPP branches of DeepLab v3 at output stride 8;
BUILD_NOTES.md, "Training speed"):

* Keras calls tf.nn.convolution, which runs every dilation > 1 as SpaceToBatchND ->
  convolution -> BatchToSpaceND. With a large rate on a small map (rate 36 on 41x41) that grid
  is mostly padding and the convolution runs on thousands of 2x2 tiles: 2.6 s instead of 0.05 s
  in float32. tf.nn.conv2d with `dilations` is the same arithmetic as one native kernel.
* In bfloat16, oneDNN's AMX kernels handle dilation well only in the backward-data direction
  (~35 ms at every rate): the forward takes 160-330 ms at rates 4-36 (33 ms at rate 1-2) and
  the filter gradient 150-640 ms. Both are sums over the nine kernel taps of matrix products
  on shifted views of the input, and a tap whose view lies in the padding drops out: 18-67 ms
  for the forward, 16-90 ms for the filter gradient. In float32 the native kernels are fine,
  except the filter gradient when a quarter or more of the tap positions read padding (rates
  near the map size: 60 ms instead of 330 ms at rate 36), where the per-tap products win.

So: inference, export and every non-CPU device run plain tf.nn.conv2d (TFLite gets a dilated
CONV_2D); training on a CPU-only machine runs `_atrous_conv_for_training`, whose outputs and
gradients equal tf.nn.conv2d's up to rounding (tests/models/test_atrous_conv.py).
"""
import functools

import keras
import tensorflow as tf

_SIXTEEN_BIT = (tf.bfloat16, tf.float16)


@keras.saving.register_keras_serializable(package="deeplab_tf")
class AtrousConv2D(keras.layers.Conv2D):
    """keras.layers.Conv2D; stride-1 dilated convolutions run as described in the module doc.

    Same variables, names, config and output as keras.layers.Conv2D.
    """

    def call(self, inputs, training=None):
        if not self._native_dilated():
            return super().call(inputs)
        if training and _cpu_only():
            kernel = tf.cast(tf.convert_to_tensor(self.kernel), inputs.dtype)
            outputs = _atrous_conv_for_training(inputs, kernel, self.dilation_rate,
                                                self.padding.upper())
        else:
            outputs = tf.nn.conv2d(inputs, self.kernel, strides=1, padding=self.padding.upper(),
                                   dilations=list(self.dilation_rate))
        if self.use_bias:
            outputs = tf.nn.bias_add(outputs, self.bias)
        if self.activation is not None:
            outputs = self.activation(outputs)
        return outputs

    def _native_dilated(self):
        return (max(self.dilation_rate) > 1 and max(self.strides) == 1 and self.groups == 1
                and self.data_format == "channels_last"
                and keras.backend.backend() == "tensorflow")


@functools.cache
def _cpu_only():
    """True when TensorFlow sees no GPU or TPU (decided once, when the first model is traced)."""
    return not (tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("TPU"))


def _atrous_conv_for_training(x, kernel, rate, padding):
    """tf.nn.conv2d(x, kernel, dilations=rate) with CPU-friendly forward and gradients."""
    if padding != "SAME" or kernel.shape[0] % 2 == 0 or kernel.shape[1] % 2 == 0:
        return tf.nn.conv2d(x, kernel, strides=1, padding=padding, dilations=list(rate))
    return _conv_same_odd(x, kernel, tuple(rate))


def _conv_same_odd(x, kernel, rate):
    """The "SAME" dilated convolution with an odd kernel, with the forward and gradients
    chosen per dtype and rate as the module docstring explains."""
    rate_h, rate_w = rate
    dilations = [1, rate_h, rate_w, 1]
    sixteen_bit = x.dtype in _SIXTEEN_BIT
    static = x.shape[1] is not None and x.shape[2] is not None  # the per-tap forms need H, W

    @tf.custom_gradient
    def conv(x, kernel):
        if static and sixteen_bit and max(rate) >= 4:
            y = _conv_by_taps(x, kernel, rate)
        else:
            y = tf.nn.conv2d(x, kernel, strides=1, padding="SAME", dilations=dilations)

        def grad(dy):
            # What TensorFlow's registered Conv2D gradient computes for the input; oneDNN runs
            # this direction well at any rate.
            dx = tf.raw_ops.Conv2DBackpropInput(
                input_sizes=tf.shape(x), filter=kernel, out_backprop=dy, strides=[1, 1, 1, 1],
                padding="SAME", dilations=dilations)
            if static and (sixteen_bit or _tap_overlap(x.shape, kernel.shape, rate) < 0.75):
                dkernel = _filter_grad_by_taps(x, dy, kernel.shape, rate)
            else:
                dkernel = tf.raw_ops.Conv2DBackpropFilter(
                    input=x, filter_sizes=tf.shape(kernel), out_backprop=dy,
                    strides=[1, 1, 1, 1], padding="SAME", dilations=dilations)
            return dx, dkernel

        return y, grad

    return conv(x, kernel)


def _tap_offsets(size, kernel_size, rate):
    """[(offset, first, end)] per kernel tap along one axis: the output rows first..end-1 read
    input rows first+offset..end-1+offset ("SAME", odd kernel)."""
    centre = (kernel_size - 1) // 2
    taps = []
    for t in range(kernel_size):
        offset = (t - centre) * rate
        taps.append((offset, max(0, -offset), min(size, size - offset)))
    return taps


def _tap_overlap(x_shape, kernel_shape, rate):
    """Fraction of the k*k*H*W tap positions that read real input rather than padding."""
    height, width = x_shape[1], x_shape[2]
    rows = sum(max(0, end - first) for _, first, end in _tap_offsets(height, kernel_shape[0],
                                                                     rate[0]))
    cols = sum(max(0, end - first) for _, first, end in _tap_offsets(width, kernel_shape[1],
                                                                    rate[1]))
    return rows * cols / (kernel_shape[0] * kernel_shape[1] * height * width)


def _conv_by_taps(x, kernel, rate):
    """The "SAME" dilated convolution as one [N, Cin] x [Cin, Cout] product per kernel tap on
    the overlapping views, each padded back to the full map and summed. Needs static H, W."""
    height, width = x.shape[1], x.shape[2]
    channels_in, channels_out = kernel.shape[2], kernel.shape[3]
    batch = tf.shape(x)[0]
    out = None
    for i, (di, h0, h1) in enumerate(_tap_offsets(height, kernel.shape[0], rate[0])):
        for j, (dj, w0, w1) in enumerate(_tap_offsets(width, kernel.shape[1], rate[1])):
            if h1 <= h0 or w1 <= w0:
                continue  # this tap only ever reads padding
            x_view = tf.reshape(x[:, h0 + di:h1 + di, w0 + dj:w1 + dj, :], [-1, channels_in])
            # Summed in float32: one rounding to x.dtype at the end, as a convolution kernel.
            y = tf.cast(tf.reshape(tf.matmul(x_view, kernel[i, j]),
                                   [batch, h1 - h0, w1 - w0, channels_out]), tf.float32)
            if (h0, h1, w0, w1) != (0, height, 0, width):
                y = tf.pad(y, [[0, 0], [h0, height - h1], [w0, width - w1], [0, 0]])
            out = y if out is None else out + y
    return tf.cast(out, x.dtype)


def _filter_grad_by_taps(x, dy, kernel_shape, rate):
    """dL/dW[i, j] = sum over batch and positions p of x[p + offset(i, j)]^T dy[p].

    One [Cin, N] x [N, Cout] matrix product per tap on the overlapping views; a tap whose view
    is empty (it only ever reads padding) gets zeros. Needs static spatial sizes.
    """
    height, width = x.shape[1], x.shape[2]
    channels_in, channels_out = kernel_shape[2], kernel_shape[3]
    rows = []
    for di, h0, h1 in _tap_offsets(height, kernel_shape[0], rate[0]):
        cols = []
        for dj, w0, w1 in _tap_offsets(width, kernel_shape[1], rate[1]):
            if h1 <= h0 or w1 <= w0:
                cols.append(tf.zeros([channels_in, channels_out], dy.dtype))
                continue
            x_view = tf.reshape(x[:, h0 + di:h1 + di, w0 + dj:w1 + dj, :], [-1, channels_in])
            dy_view = tf.reshape(dy[:, h0:h1, w0:w1, :], [-1, channels_out])
            cols.append(tf.matmul(x_view, dy_view, transpose_a=True))
        rows.append(tf.stack(cols))
    return tf.stack(rows)

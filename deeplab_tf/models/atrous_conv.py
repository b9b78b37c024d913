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

Not every CPU has those kernels. TensorFlow runs oneDNN only on CPUs it supports (by default
those with AVX-512 VNNI or newer), and oneDNN takes bfloat16 / float16 only where the CPU has
the instructions (float16: AVX512-FP16 or AMX-FP16). Elsewhere TensorFlow falls back to its
Eigen kernels, which have no dilated Conv2DBackpropInput / Conv2DBackpropFilter at all
("Current CPU implementations do not yet support dilation rates larger than 1"). Which case a
machine is in is found out by running the two ops once on a tiny input per dtype
(`_native_dilated_gradients`), not guessed from CPU flags. Without them the input gradient is
the forward convolution of dy with the kernel rotated by 180 degrees and its channel axes
swapped (exact for stride 1, "SAME" and odd kernels), the filter gradient and, at rates >= 4,
the forward are the per-tap products. Measured on a 2-core AVX2 CPU without oneDNN (float32,
one forward + backward of the case above): Keras' SpaceToBatchND route 5.5 / 26 / 59 s at
rates 12 / 24 / 36, this path 1.4 / 1.0 / 0.7 s.

So: inference, export and every non-CPU device run plain tf.nn.conv2d (TFLite gets a dilated
CONV_2D); training on a CPU-only machine runs `_atrous_conv_for_training`, whose outputs and
gradients equal Keras' (tf.nn.convolution's) up to rounding on every CPU
(tests/models/test_atrous_conv.py).
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


@functools.cache
def _native_dilated_gradients(dtype):
    """True when this machine's CPU kernels compute both dilated Conv2D gradients in `dtype`.

    Decided by running them once on a tiny input (see the module docstring): oneDNN has them
    for the dtypes the CPU supports, TensorFlow's Eigen fallback has none.
    """
    with tf.init_scope(), tf.device("/CPU:0"):
        x = tf.zeros([1, 5, 5, 1], dtype)
        kernel = tf.zeros([3, 3, 1, 1], dtype)
        common = dict(out_backprop=x, strides=[1, 1, 1, 1], padding="SAME",
                      dilations=[1, 2, 2, 1])
        try:
            tf.raw_ops.Conv2DBackpropInput(input_sizes=[1, 5, 5, 1], filter=kernel, **common)
            tf.raw_ops.Conv2DBackpropFilter(input=x, filter_sizes=[3, 3, 1, 1], **common)
        except (tf.errors.InvalidArgumentError, tf.errors.UnimplementedError,
                tf.errors.NotFoundError):
            return False
    return True


def _atrous_conv_for_training(x, kernel, rate, padding):
    """tf.nn.conv2d(x, kernel, dilations=rate) with CPU-friendly forward and gradients."""
    static = x.shape[1] is not None and x.shape[2] is not None  # the per-tap forms need H, W
    native = _native_dilated_gradients(x.dtype)
    odd_same = padding == "SAME" and kernel.shape[0] % 2 == 1 and kernel.shape[1] % 2 == 1
    if odd_same and (static or native):
        return _conv_same_odd(x, kernel, tuple(rate), native=native, static=static)
    if native:
        return tf.nn.conv2d(x, kernel, strides=1, padding=padding, dilations=list(rate))
    # Keras' own route (SpaceToBatchND): slow at large rates, but differentiable everywhere.
    return tf.nn.convolution(x, kernel, padding=padding, dilations=list(rate))


def _conv_same_odd(x, kernel, rate, *, native, static):
    """The "SAME" dilated convolution with an odd kernel, with the forward and gradients
    chosen per dtype and rate as the module docstring explains. native: this CPU has the
    dilated gradient kernels; static: H and W are known (needed unless native)."""
    rate_h, rate_w = rate
    dilations = [1, rate_h, rate_w, 1]
    sixteen_bit = x.dtype in _SIXTEEN_BIT

    @tf.custom_gradient
    def conv(x, kernel):
        if static and (sixteen_bit or not native) and max(rate) >= 4:
            y = _conv_by_taps(x, kernel, rate)
        else:
            y = tf.nn.conv2d(x, kernel, strides=1, padding="SAME", dilations=dilations)

        def grad(dy):
            if native:
                # What TensorFlow's registered Conv2D gradient computes for the input; oneDNN
                # runs this direction well at any rate.
                dx = tf.raw_ops.Conv2DBackpropInput(
                    input_sizes=tf.shape(x), filter=kernel, out_backprop=dy,
                    strides=[1, 1, 1, 1], padding="SAME", dilations=dilations)
            else:
                dx = _input_grad_by_flipped_conv(dy, kernel, dilations)
            if static and (sixteen_bit or not native
                           or _tap_overlap(x.shape, kernel.shape, rate) < 0.75):
                dkernel = _filter_grad_by_taps(x, dy, kernel.shape, rate)
            else:
                dkernel = tf.raw_ops.Conv2DBackpropFilter(
                    input=x, filter_sizes=tf.shape(kernel), out_backprop=dy,
                    strides=[1, 1, 1, 1], padding="SAME", dilations=dilations)
            return dx, dkernel

        return y, grad

    return conv(x, kernel)


def _input_grad_by_flipped_conv(dy, kernel, dilations):
    """dL/dx of the stride-1 "SAME" convolution with an odd kernel: the same convolution of dy
    with the kernel rotated by 180 degrees and its in/out channel axes swapped (the padding is
    symmetric, so the transposed convolution is itself a "SAME" one)."""
    flipped = tf.transpose(tf.reverse(kernel, axis=[0, 1]), [0, 1, 3, 2])
    return tf.nn.conv2d(dy, flipped, strides=1, padding="SAME", dilations=dilations)


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
            # In 16-bit each tap's matmul already rounds its product to x.dtype; the taps are
            # then summed in float32 and rounded once more at the end (a convolution kernel
            # rounds once), so results can differ from tf.nn.convolution by a few ulps.
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

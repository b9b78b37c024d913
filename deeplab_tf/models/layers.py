"""Building blocks shared by every DeepLab generation.

All blocks work on NHWC float tensors. Custom layers store every init argument and return it
from get_config, so models round-trip through .keras files.
"""
import keras
import tensorflow as tf

from deeplab_tf.models.atrous_conv import AtrousConv2D
from deeplab_tf.models.naming import keras_name

# Preprocessing modes, one per backbone family (official research/deeplab/core/
# feature_extractor.py, _PREPROCESS_FN and _MEAN_RGB):
#   "minus_one_to_one": x / 127.5 - 1 (Xception, MobileNetV2 and the resnet_v1_*_beta
#                       variants: _preprocess_zero_mean_unit_range).
#   "imagenet_mean":    x - [123.15, 115.90, 103.06] in RGB order (plain resnet_v1_50/101:
#                       _preprocess_subtract_imagenet_mean with the official _MEAN_RGB).
#   "caffe_bgr_mean":   RGB->BGR then x - [104.008, 116.669, 122.675] (the Caffe VGG-16 of
#                       DeepLab v1/v2: transform_param mean_value in the DeepLab prototxts).
_IMAGENET_MEAN_RGB = (123.15, 115.90, 103.06)
_CAFFE_MEAN_BGR = (104.008, 116.669, 122.675)
PREPROCESSING_MODES = ("minus_one_to_one", "imagenet_mean", "caffe_bgr_mean")

# The pixel value that preprocessing maps to 0: images are padded with it (official
# `mean_pixel`), so padding looks like "nothing" to the network.
MEAN_PIXEL = {
    "minus_one_to_one": (127.5, 127.5, 127.5),
    "imagenet_mean": _IMAGENET_MEAN_RGB,
    "caffe_bgr_mean": tuple(reversed(_CAFFE_MEAN_BGR)),
}


@keras.saving.register_keras_serializable(package="deeplab_tf")
class Preprocess(keras.layers.Layer):
    """Maps RGB images in 0..255 to what a backbone expects. [B, H, W, 3] -> [B, H, W, 3]."""

    def __init__(self, mode, **kwargs):
        super().__init__(**kwargs)
        if mode not in PREPROCESSING_MODES:
            raise ValueError(
                f"Preprocess mode={mode!r} is not supported; allowed: {PREPROCESSING_MODES}")
        self.mode = mode

    def call(self, images):
        images = tf.cast(images, self.compute_dtype)
        if self.mode == "minus_one_to_one":
            return images / 127.5 - 1.0
        if self.mode == "imagenet_mean":
            return images - tf.constant(_IMAGENET_MEAN_RGB, dtype=images.dtype)
        bgr = images[..., ::-1]
        return bgr - tf.constant(_CAFFE_MEAN_BGR, dtype=images.dtype)

    def get_config(self):
        return {**super().get_config(), "mode": self.mode}


@keras.saving.register_keras_serializable(package="deeplab_tf")
class BatchNorm(keras.layers.BatchNormalization):
    """keras.layers.BatchNormalization that runs as TF's fused kernel on NHWC tensors.

    Keras 3 builds BatchNorm from elementwise ops (casts to float32, moments, normalise, cast
    back), and their gradients as many more; the fused kernel (what the official slim code
    ran, `fused=True`) does each direction in one pass and keeps bfloat16 activations in
    bfloat16 with float32 statistics. Same variables, same moving-average rule
    (moving = moving * momentum + batch * (1 - momentum), with the biased batch variance as
    Keras), same training/trainable semantics. Falls back to Keras' implementation where the
    fused kernel cannot do the same thing: cross-replica (synchronized) statistics, masks,
    renorm, axes other than the last, ranks other than 4, float64, other backends.
    """

    def call(self, inputs, training=None, mask=None):
        if (mask is not None or self.synchronized or self.renorm
                or not (self.center and self.scale) or len(inputs.shape) != 4
                or self.axis not in (-1, 3)
                or inputs.dtype not in (tf.float16, tf.bfloat16, tf.float32)
                or keras.backend.backend() != "tensorflow"):
            return super().call(inputs, training=training, mask=mask)
        # The fused kernel refuses epsilon below 1.001e-5 and tf.compat.v1.nn.fused_batch_norm
        # raises it to that (so did the official fused slim BatchNorm: ResNet's 1e-5).
        if training and self.trainable:
            y, mean, variance = tf.compat.v1.nn.fused_batch_norm(
                inputs, self.gamma, self.beta, epsilon=self.epsilon, data_format="NHWC",
                is_training=True)
            # The kernel returns the Bessel-corrected variance; Keras averages the biased one.
            count = tf.cast(tf.size(inputs) // tf.shape(inputs)[-1], variance.dtype)
            variance = variance * (count - 1.0) / tf.maximum(count, 2.0)
            self.moving_mean.assign(
                self.moving_mean * self.momentum + mean * (1.0 - self.momentum))
            self.moving_variance.assign(
                self.moving_variance * self.momentum + variance * (1.0 - self.momentum))
        elif getattr(getattr(inputs, "op", None), "type", None) != "Conv2D":
            # Inference after anything but a convolution (a depthwise one, an Add): Keras'
            # multiply-add is faster than a standalone fused kernel (deeplabv3plus_xception65
            # at 513: 598 vs 715 ms). After a Conv2D, Grappler folds the fused kernel into the
            # convolution (_FusedConv2D): deeplabv3_resnet50 455 vs 491 ms.
            return super().call(inputs, training=training, mask=mask)
        else:
            y, _, _ = tf.compat.v1.nn.fused_batch_norm(
                inputs, self.gamma, self.beta, mean=self.moving_mean, variance=self.moving_variance,
                epsilon=self.epsilon, data_format="NHWC", is_training=False)
        return tf.cast(y, self.compute_dtype)


def resize_bilinear(x, size):
    """The project's one bilinear resize: [B, h, w, C] -> [B, size[0], size[1], C].

    align_corners=True, half_pixel_centers=False, as the official code and TFLite files; the
    raw op is what tf.compat.v1.image.resize_bilinear runs, without its deprecation warning on
    every trace. Computed in float32, returned in x's dtype. Used by ResizeBilinear (inside
    models) and directly by graph code outside models (augmentation, training, inference).
    """
    x = tf.convert_to_tensor(x)
    out = tf.raw_ops.ResizeBilinear(images=tf.cast(x, tf.float32), size=tf.cast(size, tf.int32),
                                    align_corners=True, half_pixel_centers=False)
    return tf.cast(out, x.dtype)


@keras.saving.register_keras_serializable(package="deeplab_tf")
class ResizeBilinear(keras.layers.Layer):
    """Bilinear resize with align_corners=True, the way the official code resizes.

    keras.ops.image.resize has no align_corners option; the official TF1 code (and the official
    TFLite files) use ResizeBilinear(align_corners=True, half_pixel_centers=False) everywhere.
    Getting this wrong alone moves logits by several units.

    Called as layer([x, reference]): resizes x [B, h, w, C] to the spatial size of reference
    [B, H, W, ...] (dynamic shapes allowed). Called as layer(x) with `size` set: resizes to
    that fixed (H, W).
    """

    def __init__(self, size=None, **kwargs):
        super().__init__(**kwargs)
        self.size = tuple(size) if size is not None else None

    def call(self, inputs):
        if isinstance(inputs, (list, tuple)):
            x, reference = inputs
            size = tf.shape(reference)[1:3]
        else:
            x, size = inputs, self.size
        return resize_bilinear(x, size)

    def compute_output_shape(self, input_shape):
        if isinstance(input_shape, (list, tuple)) and isinstance(input_shape[0], (list, tuple)):
            x_shape, ref_shape = input_shape
            return (x_shape[0], ref_shape[1], ref_shape[2], x_shape[3])
        h, w = self.size if self.size else (None, None)
        return (input_shape[0], h, w, input_shape[3])

    def get_config(self):
        return {**super().get_config(), "size": self.size}


def conv_bn(x, filters, kernel_size, *, name, bn, stride=1, rate=1, activation="relu",
            use_batch_norm=True, use_bias=None):
    """Conv2D (+ BatchNorm) (+ activation), named after an official scope.

    Layer names: conv `name`, BatchNorm `name.BatchNorm`, as the official slim scopes
    ("<scope>/weights", "<scope>/BatchNorm/gamma").

    Args:
      x: [B, H, W, Cin] tensor.
      bn: dict with "momentum", "epsilon" and "scale" (the backbone's official BatchNorm
        defaults, BackboneSpec.bn).
      activation: "relu", "relu6" or None.
      use_bias: defaults to not use_batch_norm.
    Returns:
      [B, ceil(H/stride), ceil(W/stride), filters] ("SAME" padding, as the official code).
    """
    if use_bias is None:
        use_bias = not use_batch_norm
    x = AtrousConv2D(
        filters, kernel_size, strides=stride, dilation_rate=rate, padding="same",
        use_bias=use_bias, name=keras_name(name))(x)
    if use_batch_norm:
        x = batch_norm(bn, keras_name(name, "BatchNorm"))(x)
    return activate(x, activation, name)


def batch_norm(bn, name):
    """A BatchNorm layer with the defaults `bn` ({"momentum", "epsilon", "scale"}: a
    backbone's BackboneSpec.bn or the head's HEAD_BN)."""
    return BatchNorm(momentum=bn["momentum"], epsilon=bn["epsilon"], scale=bn["scale"],
                     name=name)


def activate(x, activation, name):
    if activation is None:
        return x
    if activation == "relu":
        return keras.layers.ReLU(name=keras_name(name, "Relu"))(x)
    if activation == "relu6":
        return keras.layers.ReLU(max_value=6.0, name=keras_name(name, "Relu6"))(x)
    raise ValueError(f"activation={activation!r}; allowed: 'relu', 'relu6', None")


def logits_initializer():
    """The class layers' kernel initializer: normal with stddev 0.01, as every DeepLab release
    (official research/deeplab model.py get_branch_logits: truncated_normal stddev 0.01; the
    v1/v2 Caffe prototxts: fc8 gaussian std 0.01). Keras' default (Glorot) gives logits large
    enough, on the unnormalised features of a pretrained head, to make the first steps of a
    fine-tuning diverge."""
    return keras.initializers.TruncatedNormal(stddev=0.01)


def scaled_channels(channels, width_multiplier):
    """Channel count scaled by width_multiplier (tests use tiny widths; 1.0 = the paper)."""
    return max(1, int(round(channels * width_multiplier)))


def fixed_padding(x, kernel_size, rate, name):
    """Pads [B, H, W, C] by (k_eff - 1) split as evenly as possible, more at the end.

    The official resnet_utils.conv2d_same / xception.fixed_padding pad explicitly before a
    strided VALID convolution, so the sampling grid does not depend on whether H is odd or even
    (Keras/TF "SAME" pads 0 before and 1 after for even H with a 3x3 stride-2 kernel).
    """
    k_eff = kernel_size + (kernel_size - 1) * (rate - 1)
    beg = (k_eff - 1) // 2
    end = k_eff - 1 - beg
    return keras.layers.ZeroPadding2D(((beg, end), (beg, end)), name=name)(x)


def conv2d_same(x, filters, kernel_size, *, name, bn, stride=1, rate=1, activation="relu"):
    """Conv + BN (+ activation) as the official resnet_utils.conv2d_same.

    stride 1: "SAME" convolution (dilated by `rate`); stride > 1: explicit fixed padding then a
    VALID convolution. [B, H, W, Cin] -> [B, ceil(H/stride), ceil(W/stride), filters].
    """
    if stride == 1:
        return conv_bn(x, filters, kernel_size, name=name, bn=bn, rate=rate,
                       activation=activation)
    x = fixed_padding(x, kernel_size, rate, keras_name(name, "pad"))
    x = keras.layers.Conv2D(filters, kernel_size, strides=stride, dilation_rate=rate,
                            padding="valid", use_bias=False, name=keras_name(name))(x)
    x = batch_norm(bn, keras_name(name, "BatchNorm"))(x)
    return activate(x, activation, name)


def separable_conv_bn(x, filters, *, name, bn, kernel_size=3, stride=1, rate=1,
                      depthwise_activation="relu", pointwise_activation="relu",
                      explicit_padding=False):
    """Depthwise conv + BN (+ act), then 1x1 pointwise conv + BN (+ act).

    The split form of the official utils.split_separable_conv2d (ASPP/decoder, ReLU after
    both) and xception.separable_conv2d_same (activation per module). Layer names follow the
    official scopes "<name>_depthwise" and "<name>_pointwise".
    [B, H, W, Cin] -> [B, ceil(H/stride), ceil(W/stride), filters].
    """
    padding = "same"
    if stride > 1 and explicit_padding:
        x = fixed_padding(x, kernel_size, rate, keras_name(name + "_depthwise", "pad"))
        padding = "valid"
    x = keras.layers.DepthwiseConv2D(
        kernel_size, strides=stride, dilation_rate=rate, padding=padding, use_bias=False,
        name=keras_name(name + "_depthwise"))(x)
    x = batch_norm(bn, keras_name(name + "_depthwise", "BatchNorm"))(x)
    x = activate(x, depthwise_activation, name + "_depthwise")
    return conv_bn(x, filters, 1, name=name + "_pointwise", bn=bn,
                   activation=pointwise_activation)

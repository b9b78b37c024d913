"""Padding and cropping that keep stride-2 networks exactly aligned on any input size.

FCN and SegNet pool by 2x2 windows, so their feature maps do not have the (s - 1) / OS + 1
sizes of the DeepLab models; these two layers make them work on odd and even sizes alike.
Both pad or crop at the bottom/right only, so pixel (0, 0) stays the origin of every map.
Sizes are read from the tensors (dynamic shapes allowed); at a fixed input size (TFLite
export) they fold to constants.
"""
import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="deeplab_tf")
class PadToMultiple(keras.layers.Layer):
    """Zero-pads H and W at the bottom/right up to multiples of `multiple`.

    [B, H, W, C] -> [B, ceil(H / m) * m, ceil(W / m) * m, C]. Applied to preprocessed images,
    zero is the mean pixel (what DeepLab pads images with too).
    """

    def __init__(self, multiple, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(multiple, int) or multiple < 1:
            raise ValueError(f"PadToMultiple multiple={multiple!r} must be an integer >= 1")
        self.multiple = multiple

    def call(self, x):
        size = tf.shape(x)[1:3]
        extra = (-size) % self.multiple
        paddings = tf.stack([[0, 0], [0, extra[0]], [0, extra[1]], [0, 0]])
        return tf.pad(x, paddings)

    def compute_output_shape(self, input_shape):
        def up(d):
            return None if d is None else -(-d // self.multiple) * self.multiple
        return (input_shape[0], up(input_shape[1]), up(input_shape[2]), input_shape[3])

    def get_config(self):
        return {**super().get_config(), "multiple": self.multiple}


@keras.saving.register_keras_serializable(package="deeplab_tf")
class CropToReference(keras.layers.Layer):
    """layer([x, reference]): x [B, H', W', C] -> x[:, :H, :W] with (H, W) the spatial size of
    reference [B, H, W, ...] (H' >= H, W' >= W): the bottom/right overhang of an upsampling
    (FCN) or of PadToMultiple (SegNet) is cut off."""

    def call(self, inputs):
        x, reference = inputs
        size = tf.shape(reference)[1:3]
        return x[:, :size[0], :size[1], :]

    def compute_output_shape(self, input_shape):
        x_shape, ref_shape = input_shape
        return (x_shape[0], ref_shape[1], ref_shape[2], x_shape[3])

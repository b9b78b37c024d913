"""Image-size arithmetic shared by the data pipeline, the train step and inference.

A leaf module (no package imports; TensorFlow only when a tensor is passed), so data/,
training/ and inference all import it without cycles.

DeepLab sizes are of the form OS*k+1 (513 = 16*32+1): with align_corners=True resizes, the
corner pixels of the input and of every feature map then sit on the same grid, so the
stride-OS features align exactly with the image (research/deeplab uses 513x513 crops for that
reason). Both helpers keep that form.
"""
import numbers


def scale_dimension(dim, scale):
    """A size scaled by `scale` the official way: int((dim - 1) * scale + 1), which scales the
    distance between the corner pixels, the quantity align_corners resizes keep (513 at 0.5 ->
    257, 513 at 0.75 -> 385; research/deeplab/core/utils.py scale_dimension, used there for
    multi-scale inputs and pooled feature sizes).

    dim: a Python/numpy number -> int; a tensor or array (any shape, e.g. tf.shape(x)[1:3])
    -> int32 tensor, computed in float32 and truncated like the official tensor branch.
    """
    if isinstance(dim, numbers.Number):   # Python and numpy scalars
        return int((float(dim) - 1.0) * scale + 1.0)
    import tensorflow as tf
    return tf.cast((tf.cast(dim, tf.float32) - 1.0) * scale + 1.0, tf.int32)


def padded_size(height, width, output_stride=16):
    """The smallest (OS*k+1, OS*k'+1) holding height x width: OS*ceil((s-1)/OS)+1 per side.

    Where an image is padded (bottom/right) before the network: the evaluation pipeline's
    per-image crop (data/augment.eval_preprocess) and inference's padding. Integer floor
    division only, so Python ints give ints and int32 tensors give tensors.
    """
    def fit(size):
        return (size - 1 + output_stride - 1) // output_stride * output_stride + 1
    return fit(height), fit(width)

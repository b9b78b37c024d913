"""FCN-32s, FCN-16s and FCN-8s heads on VGG-16 (Long, Shelhamer & Darrell, CVPR 2015;
Shelhamer, Long & Darrell, TPAMI 2017, Sec. 4 and Fig. 3).

fc6 is VGG's first fully connected layer as a 7x7 conv with 4096 channels, fc7 a 1x1 with
4096, each followed by ReLU and dropout 0.5; score_fr scores the classes at stride 32. Each
skip adds a learned 2x upsampling (upscore2, upscore_pool4) and a 1x1 score layer on pool4 /
pool3 (score_pool4, score_pool3), summed (fuse_pool4, fuse_pool3); a final transposed conv
upsamples by 32, 16 or 8 (upscore, upscore16, upscore8). Layer names are those of the
reference Caffe nets (voc-fcn{32,16,8}s). Per the paper: the transposed convs have no bias and
start as bilinear interpolation; the 2x ones are learned and the final one is fixed (CVPR
Sec. 4: "the final layer deconvolutional filters are fixed to bilinear interpolation");
class scoring layers start at zero (CVPR Sec. 4).

Skip scaling: the one-stage "at-once" FCN-8s (TPAMI Sec. 4.2; scale_pool4 / scale_pool3 in
its net) multiplies pool4 by 0.01 and pool3 by 0.0001 before scoring them, so the fine skips
start small; the staged variant trains 32s, then 16s, then 8s without scaling. We train in one
stage, so the presets use the at-once scales (skip_scales); skip_scales=(1.0, 1.0) is the
staged form.

Alignment (instead of the Caffe nets' pad 100 on conv1_1 and crop offsets 5 / 9 / 31 / 19):
every conv is "SAME", the 2x2 stride-2 poolings are ceil-mode (TF "SAME" pads the odd row at
the end), fc6 is "SAME", and each transposed conv of factor f has kernel 2f, stride f and
Keras "same" padding, which crops (2f - f) / 2 = f / 2 at the start. Then feature i of a
stride-s map is centred on input pixel s * i + (s - 1) / 2 at every stage, and a factor-f
transposed conv with the bilinear kernel of FCN's surgery (centre f - 1/2 for even kernels)
maps output o exactly onto the half-pixel-centred bilinear position (o - (f - 1) / 2) / f of
its input: every skip and the output line up with crop offset 0 on odd and even sizes alike.
Each upsampling's bottom/right overhang (from ceil-mode pooling) is cropped to the finer map
(CropToReference: upscore2c, upscore_pool4c), the last one to the input size ("score").
Unlike the Caffe net, fc6 sees zero padding at the borders of pool5 rather than features of a
100-pixel padded image.
"""
import keras
import numpy as np

from deeplab_tf.models.cropping import CropToReference
from deeplab_tf.models.layers import AtrousConv2D

NETWORK_STRIDE = 32
SKIP_POOLS = ("pool4", "pool3")   # in the order FCN-16s, FCN-8s add them


@keras.saving.register_keras_serializable(package="deeplab_tf")
class BilinearUpsampling(keras.initializers.Initializer):
    """Kernel [k, k, C, C] of a transposed conv that upsamples each channel bilinearly.

    The FCN surgery's filter: factor = (k + 1) // 2, centre factor - 1 (odd k) or
    factor - 1/2 (even k), weight 1 - |tap - centre| / factor per axis, on the channel
    diagonal (channel i -> i), zero across channels.
    """

    def __call__(self, shape, dtype=None):
        k = shape[0]
        if shape[0] != shape[1] or shape[2] != shape[3]:
            raise ValueError(f"BilinearUpsampling needs a kernel [k, k, C, C], got {shape}")
        factor = (k + 1) // 2
        centre = factor - 1 if k % 2 else factor - 0.5
        taps = 1.0 - np.abs(np.arange(k) - centre) / factor
        kernel = np.zeros(shape, dtype="float32")
        for c in range(shape[2]):
            kernel[:, :, c, c] = np.outer(taps, taps)
        return keras.ops.convert_to_tensor(kernel, dtype=dtype)

    def get_config(self):
        return {}


def _layer_names(skips):
    """(score layers, upsampling layers) in creation order, the reference nets' names."""
    scores = ["score_fr"] + [f"score_{pool}" for pool in skips]
    ups = ["upscore2"] + [f"upscore_{pool}" for pool in skips[:-1]] if skips else []
    final = NETWORK_STRIDE >> len(skips)
    ups.append("upscore" if final == NETWORK_STRIDE else f"upscore{final}")
    return scores, ups


def logits_layer_names(config):
    """Every layer whose weights depend on num_classes: the score layers and the upsampling
    transposed convs (C -> C), in creation order (builder.model_info)."""
    skips = _check_skips(config["skips"])
    scores, ups = _layer_names(skips)
    order = [scores[0]]
    for i in range(len(skips)):
        order += [ups[i], scores[i + 1]]
    return order + [ups[-1]]


def _check_skips(skips):
    skips = tuple(skips)
    if skips != SKIP_POOLS[:len(skips)]:
        raise ValueError(f"skips={skips!r}; allowed: (), ('pool4',), ('pool4', 'pool3') "
                         "(FCN-32s, -16s, -8s)")
    return skips


def _upsampling(num_classes, factor, name, trainable=True):
    return keras.layers.Conv2DTranspose(
        num_classes, 2 * factor, strides=factor, padding="same", use_bias=False,
        kernel_initializer=BilinearUpsampling(), trainable=trainable, name=name)


def fcn_head(endpoints, *, num_classes, skips, skip_scales, fc_depth=4096, dropout=0.5):
    """FCN head on the VGG-16 endpoints ("out" = pool5, "pool4", "pool3", "input").

    Returns:
      (logits [B, H, W, num_classes] at the input size, names of the layers it created whose
      weights depend on num_classes: logits_layer_names of its config).
    """
    skips = _check_skips(skips)
    if len(skip_scales) != len(skips):
        raise ValueError(f"skip_scales={tuple(skip_scales)!r} needs one scale per skip "
                         f"{skips!r}")
    scores, ups = _layer_names(skips)
    x = AtrousConv2D(fc_depth, 7, padding="same", activation="relu", name="fc6")(endpoints["out"])
    x = keras.layers.Dropout(dropout, name="drop6")(x)
    x = keras.layers.Conv2D(fc_depth, 1, activation="relu", name="fc7")(x)
    x = keras.layers.Dropout(dropout, name="drop7")(x)
    created = [scores[0]]
    x = keras.layers.Conv2D(num_classes, 1, kernel_initializer="zeros", name=scores[0])(x)
    for pool, scale, score_name, up_name in zip(skips, skip_scales, scores[1:], ups):
        x = _upsampling(num_classes, 2, up_name)(x)
        skip = endpoints[pool]
        if scale != 1.0:
            skip = keras.layers.Rescaling(scale, name=f"scale_{pool}")(skip)
        skip = keras.layers.Conv2D(num_classes, 1, kernel_initializer="zeros",
                                   name=score_name)(skip)
        x = CropToReference(name=f"{up_name}c")([x, skip])
        x = keras.layers.Add(name=f"fuse_{pool}")([x, skip])
        created += [up_name, score_name]
    final = NETWORK_STRIDE >> len(skips)
    x = _upsampling(num_classes, final, ups[-1], trainable=False)(x)
    created.append(ups[-1])
    return CropToReference(name="score")([x, endpoints["input"]]), created

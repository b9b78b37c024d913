"""DeepLab v3 head: ASPP with BatchNorm and image-level features (arXiv 1706.05587, Sec. 3.3).

Branches (official research/deeplab/model.py, extract_features), concatenated in this order:
  image_pooling: global average pool -> 1x1 conv (aspp_depth) + BN + ReLU -> bilinear
                 upsample (align_corners) to the feature size;
  aspp0:         1x1 conv + BN + ReLU;
  aspp1..N:      3x3 conv at each atrous rate + BN + ReLU (or, with aspp_separable, the
                 official split separable conv: aspp{i}_depthwise + BN + ReLU, then
                 aspp{i}_pointwise + BN + ReLU: the "+SC" of v3+);
then concat_projection (1x1, aspp_depth) + BN + ReLU + dropout (keep_prob 0.9). With
atrous_rates=() this is exactly the official MobileNetV2 head (image_pooling + aspp0 +
concat_projection), which the official weights are loaded into by name.
logits/semantic: 1x1 conv to the classes with bias (model.get_branch_logits).
"""
import keras

from deeplab_tf.models.layers import (ResizeBilinear, conv_bn, logits_initializer, scaled_channels,
                                      separable_conv_bn)
from deeplab_tf.models.naming import keras_name

# The head's BatchNorm: model.py passes decay=0.9997, epsilon=1e-5, scale=True
# (utils.get_batch_norm_params).
HEAD_BN = {"momentum": 0.9997, "epsilon": 1e-5, "scale": True}
LOGITS_SCOPE = "logits/semantic"
LOGITS_NAME = keras_name(LOGITS_SCOPE)


def aspp(features, *, atrous_rates, aspp_depth=256, image_pooling=True, aspp_separable=False,
         dropout=0.1, width_multiplier=1.0):
    """ASPP encoder head. [B, h, w, C] -> [B, h, w, aspp_depth]."""
    depth = scaled_channels(aspp_depth, width_multiplier)
    branches = []
    if image_pooling:
        pooled = keras.layers.GlobalAveragePooling2D(
            keepdims=True, name=keras_name("image_pooling", "pool"))(features)
        pooled = conv_bn(pooled, depth, 1, name="image_pooling", bn=HEAD_BN)
        branches.append(ResizeBilinear(name=keras_name("image_pooling", "resize"))(
            [pooled, features]))
    branches.append(conv_bn(features, depth, 1, name="aspp0", bn=HEAD_BN))
    for i, rate in enumerate(atrous_rates, start=1):
        if aspp_separable:
            branches.append(separable_conv_bn(features, depth, name=f"aspp{i}", bn=HEAD_BN,
                                              rate=rate))
        else:
            branches.append(conv_bn(features, depth, 3, rate=rate, name=f"aspp{i}", bn=HEAD_BN))
    x = keras.layers.Concatenate(name="concat")(branches) if len(branches) > 1 else branches[0]
    x = conv_bn(x, depth, 1, name="concat_projection", bn=HEAD_BN)
    return keras.layers.Dropout(dropout, name="concat_projection_dropout")(x)


def logits_layer_names(config):
    """Names of the layers whose weights depend on num_classes, for a resolved preset config
    (builder.model_info): logits/semantic, which logits_layer creates under this name."""
    return [LOGITS_NAME]


def logits_layer(x, num_classes):
    """logits/semantic: [B, h, w, C] -> ([B, h, w, num_classes], [its layer name])."""
    layer = keras.layers.Conv2D(num_classes, 1, kernel_initializer=logits_initializer(),
                                name=LOGITS_NAME)
    return layer(x), [layer.name]


def aspp_head(endpoints, *, num_classes, atrous_rates, aspp_depth=256, image_pooling=True,
              aspp_separable=False, dropout=0.1, width_multiplier=1.0):
    """v3 head on endpoints["out"] -> (logits [B, h, w, num_classes], class layer names)."""
    x = aspp(endpoints["out"], atrous_rates=atrous_rates, aspp_depth=aspp_depth,
             image_pooling=image_pooling, aspp_separable=aspp_separable, dropout=dropout,
             width_multiplier=width_multiplier)
    return logits_layer(x, num_classes)


def cascade_head(endpoints, *, num_classes):
    """Cascaded v3 (Sec. 3.2): logits straight on the last cascaded block (block7)."""
    return logits_layer(endpoints["out"], num_classes)

"""VGG-16 in the DeepLab-LargeFOV form (DeepLab v1, arXiv 1412.7062, Sec. 3.1; v2 VGG model).

Caffe VGG-16 without BatchNorm. All five max-poolings are 3x3 with padding 1 (the DeepLab
prototxts), pool1-pool3 keep stride 2; pool4 and pool5 are the strides the atrous rule
replaces: at output stride 8 both run with stride 1 and conv5_x is dilated by 2 (the LargeFOV
network). Layer names follow the slim vgg_16 scopes (vgg_16/conv1/conv1_1, vgg_16/pool1, ...),
which match the Caffe layer names conv1_1 ... conv5_3.
"""
import keras

from deeplab_tf.models.backbones.atrous import AtrousRule
from deeplab_tf.models.layers import AtrousConv2D, scaled_channels
from deeplab_tf.models.naming import keras_name

# (number of 3x3 convs, channels) per stage: VGG-16 configuration D (Simonyan & Zisserman).
_STAGES = ((2, 64), (2, 128), (3, 256), (3, 512), (3, 512))


def build_vgg16(x, *, output_stride, bn=None, width_multiplier=1.0, scope="vgg_16"):
    """VGG-16 feature extractor. bn is ignored (the Caffe VGG-16 has no BatchNorm).

    Args:
      x: preprocessed images [B, H, W, 3] (BGR, Caffe mean subtracted).
      output_stride: 8 (LargeFOV), 16 or 32.
    Returns:
      endpoints {4: conv3_3 [B, H/4, W/4, 256w], 8: ..., "out": pool5 output
      [B, (H-1)/OS+1, (W-1)/OS+1, 512w]}.
    """
    del bn
    rule = AtrousRule(output_stride, "vgg16")
    endpoints = {}
    for stage, (num_convs, channels) in enumerate(_STAGES, start=1):
        # The rate of this stage's convs is the rate accumulated by the skipped pool strides.
        rate = rule.rate
        for i in range(1, num_convs + 1):
            x = AtrousConv2D(
                scaled_channels(channels, width_multiplier), 3, padding="same",
                dilation_rate=rate, activation="relu",
                name=keras_name(scope, f"conv{stage}", f"conv{stage}_{i}"))(x)
        if rule.nominal_stride <= output_stride:
            endpoints[rule.nominal_stride] = x
        stride, _ = rule.unit(2)
        x = keras.layers.MaxPooling2D(3, strides=stride, padding="same",
                                      name=keras_name(scope, f"pool{stage}"))(x)
    endpoints["out"] = x
    return endpoints

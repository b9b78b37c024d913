"""VGG-16 (configuration D, Simonyan & Zisserman) in the forms DeepLab and its baselines use.

Caffe VGG-16 convs, named after the slim vgg_16 scopes (vgg_16/conv1/conv1_1, vgg_16/pool1,
...), which match the Caffe layer names conv1_1 ... conv5_3 and Keras' ImageNet file
(--init=imagenet). `pooling` picks the pooling of the form:

  "deeplab"  3x3 max-pooling with padding 1 (the DeepLab v1/v2 prototxts). At output stride 8
             pool4 and pool5 run with stride 1 and conv5_x is dilated by 2 (LargeFOV).
  "vgg"      the original 2x2 stride-2 max-pooling (FCN; TF "SAME" = Caffe's ceil mode on odd
             sizes). A pool whose stride the atrous rule removes is removed with it: the
             dilated front-end of Yu & Koltun (ICLR 2016, Sec. 4) drops pool4 and pool5 and
             dilates conv5 by 2 (and the layer after pool5, fc6, by 4).
  "argmax"   2x2 stride-2 max-pooling that also returns where each maximum was
             (unpooling.MaxPoolWithMask; SegNet, Badrinarayanan et al. TPAMI 2017). The input
             is first zero-padded at the bottom/right to a multiple of 32 so that every
             window is whole; the SegNet decoder crops back to the input size.

batch_norm=True puts BatchNorm (+ReLU) after every conv, as SegNet's encoder
("vgg_16.convB.convB_I.BatchNorm"). The convs keep their biases, as in SegNet's Caffe net, so
VGG's ImageNet biases load too.
"""
import keras

from deeplab_tf.models.backbones.atrous import AtrousRule
from deeplab_tf.models.cropping import PadToMultiple
from deeplab_tf.models.layers import AtrousConv2D, scaled_channels
from deeplab_tf.models.layers import batch_norm as batch_norm_layer
from deeplab_tf.models.naming import keras_name
from deeplab_tf.models.unpooling import MaxPoolWithMask

# (number of 3x3 convs, channels) per stage: VGG-16 configuration D (Simonyan & Zisserman).
STAGES = ((2, 64), (2, 128), (3, 256), (3, 512), (3, 512))
POOLINGS = ("deeplab", "vgg", "argmax")
_ARGMAX_MULTIPLE = 2 ** len(STAGES)   # five 2x2 poolings need sizes divisible by 32


def build_vgg16(x, *, output_stride, scope, bn=None, width_multiplier=1.0,
                pooling="deeplab", batch_norm=False):
    """VGG-16 feature extractor.

    Args:
      x: preprocessed images [B, H, W, 3] (BGR, Caffe mean subtracted).
      output_stride: 8, 16 or 32 (pooling "argmax": 32 only).
      bn: {"momentum", "epsilon", "scale"}, used only with batch_norm=True.
      scope: the official scope root (BackboneSpec.official_scope).
    Returns:
      endpoints {1: conv1_2, 2: conv2_2, 4: conv3_3 [B, H/4, W/4, 256w], 8: ..., 16: ...
      (the last conv of each stage, for strides <= output_stride), "pool1".."pool5" (each
      stage's output after its pooling), "out" (= pool5, [B, ~H/OS, ~W/OS, 512w]),
      "input" (x itself), and with pooling "argmax" "mask1".."mask5" (each pooling's
      one-hot argmax mask, unpooling.MaxPoolWithMask)}.
    """
    if pooling not in POOLINGS:
        raise ValueError(f"pooling={pooling!r}; allowed: {POOLINGS}")
    rule = AtrousRule(output_stride, "vgg16")
    endpoints = {"input": x}
    if pooling == "argmax":
        x = PadToMultiple(_ARGMAX_MULTIPLE, name=keras_name(scope, "pad"))(x)
    for stage, (num_convs, channels) in enumerate(STAGES, start=1):
        # The rate of this stage's convs is the rate accumulated by the skipped pool strides.
        rate = rule.rate
        for i in range(1, num_convs + 1):
            name = keras_name(scope, f"conv{stage}", f"conv{stage}_{i}")
            x = AtrousConv2D(
                scaled_channels(channels, width_multiplier), 3, padding="same",
                dilation_rate=rate, activation=None if batch_norm else "relu", name=name)(x)
            if batch_norm:
                x = batch_norm_layer(bn, keras_name(name, "BatchNorm"))(x)
                x = keras.layers.ReLU(name=keras_name(name, "Relu"))(x)
        if rule.nominal_stride <= output_stride:
            endpoints[rule.nominal_stride] = x
        stride, _ = rule.unit(2)
        pool_name = keras_name(scope, f"pool{stage}")
        if pooling == "deeplab":
            x = keras.layers.MaxPooling2D(3, strides=stride, padding="same", name=pool_name)(x)
        elif pooling == "argmax":
            if stride != 2:
                raise ValueError(f"output_stride={output_stride}: the argmax-pooling VGG-16 "
                                 "(SegNet) keeps all five poolings; allowed: 32")
            x, endpoints[f"mask{stage}"] = MaxPoolWithMask(name=pool_name)(x)
        elif stride == 2:
            x = keras.layers.MaxPooling2D(2, strides=2, padding="same", name=pool_name)(x)
        endpoints[f"pool{stage}"] = x
    endpoints["out"] = x
    return endpoints

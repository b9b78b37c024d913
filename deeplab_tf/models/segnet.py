"""SegNet's decoder (Badrinarayanan, Kendall & Cipolla, TPAMI 2017, Sec. 3 and Fig. 2).

The encoder is the backbone "vgg16_segnet": the 13 VGG-16 convs, each with BatchNorm and
ReLU, and five 2x2 stride-2 max-poolings that keep their argmax positions (as one-hot masks,
unpooling.py), on the input zero-padded to a multiple of 32. The decoder mirrors it: per
stage, from the deepest, unpool with that stage's mask (each value back at its max position,
zeros elsewhere), then the stage's convs in reverse order, each 3x3 + BatchNorm + ReLU, the
last conv of a stage narrowing to the channels of the stage above:

  upsample5  conv5_3_D 512  conv5_2_D 512  conv5_1_D 512
  upsample4  conv4_3_D 512  conv4_2_D 512  conv4_1_D 256
  upsample3  conv3_3_D 256  conv3_2_D 256  conv3_1_D 128
  upsample2  conv2_2_D 128  conv2_1_D 64
  upsample1  conv1_2_D 64   conv1_1_D num_classes (3x3 with bias, no BatchNorm: the
                                                   classifier before the softmax)

Names follow the SegNet Caffe nets (conv5_3_D, upsample5; their conv5_3_D_bn is our
conv5_3_D.BatchNorm). The logits are cropped back from the padded size to the input size.
Every conv has a bias, also before BatchNorm, as in the Caffe net (redundant with BatchNorm's
offset, 7,936 parameters at full width; kept so VGG's biases load and the count is SegNet's).
"""
from deeplab_tf.models.cropping import CropToReference
from deeplab_tf.models.layers import AtrousConv2D, conv_bn, logits_initializer, scaled_channels
from deeplab_tf.models.unpooling import MaxUnpool

# Decoder stages from the deepest: (stage, output channels of its convs); None = classes.
_DECODER = ((5, (512, 512, 512)), (4, (512, 512, 256)), (3, (256, 256, 128)),
            (2, (128, 64)), (1, (64, None)))
LOGITS = "conv1_1_D"


def logits_layer_names(config):
    """The one layer whose weights depend on num_classes (builder.model_info)."""
    return [LOGITS]


def decoder_head(endpoints, *, num_classes, bn, width_multiplier=1.0):
    """SegNet decoder on the argmax-pooling VGG-16 endpoints ("out" = pool5 [B, H/32, W/32,
    512w], "mask1".."mask5", "input" [B, H, W, 3]).

    Returns:
      (logits [B, H, W, num_classes] at the input size, [LOGITS]).
    """
    x = endpoints["out"]
    for stage, widths in _DECODER:
        x = MaxUnpool(name=f"upsample{stage}")([x, endpoints[f"mask{stage}"]])
        for i, width in zip(range(len(widths), 0, -1), widths):
            name = f"conv{stage}_{i}_D"
            if width is None:
                x = AtrousConv2D(num_classes, 3, padding="same",
                                 kernel_initializer=logits_initializer(), name=name)(x)
            else:
                x = conv_bn(x, scaled_channels(width, width_multiplier), 3, name=name, bn=bn,
                            use_bias=True)
    return CropToReference(name="crop")([x, endpoints["input"]]), [LOGITS]

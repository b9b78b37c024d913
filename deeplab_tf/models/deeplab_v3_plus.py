"""DeepLab v3+ decoder (arXiv 1802.02611, Sec. 3.1 and Fig. 2).

Official research/deeplab/model.py refine_by_decoder, with its scope names:
  decoder/feature_projection0: 1x1 conv (low_level_depth = 48) + BN + ReLU on the backbone's
      stride-4 end point;
  the encoder output is bilinearly upsampled (align_corners) to that size and concatenated
      before the projection ([encoder, projection], the official order);
  two 3x3 convs (decoder_depth = 256) + BN + ReLU: "decoder/decoder_conv0/decoder_conv0_1"
      and ".../decoder_conv0_2" (slim.repeat names), or with decoder_separable the split
      separable convs "decoder/decoder_conv0_{depthwise,pointwise}" and
      "decoder/decoder_conv1_{depthwise,pointwise}" (+SC);
  logits/semantic: 1x1 to the classes, at stride 4.
"""
import keras

from deeplab_tf.models import deeplab_v3
from deeplab_tf.models.deeplab_v3 import HEAD_BN, aspp, logits_layer
from deeplab_tf.models.layers import ResizeBilinear, conv_bn, scaled_channels, separable_conv_bn
from deeplab_tf.models.naming import keras_name


def logits_layer_names(config):
    """Names of the layers whose weights depend on num_classes, for a resolved preset config
    (builder.model_info): the decoder ends in the v3 logits layer."""
    return deeplab_v3.logits_layer_names(config)


def decoder(encoder, low_level, *, low_level_depth=48, decoder_depth=256,
            decoder_separable=False, width_multiplier=1.0):
    """[B, h, w, C] encoder output + [B, H4, W4, Cl] stride-4 features -> [B, H4, W4, depth]."""
    projection = conv_bn(low_level, scaled_channels(low_level_depth, width_multiplier), 1,
                         name="decoder/feature_projection0", bn=HEAD_BN)
    upsampled = ResizeBilinear(name=keras_name("decoder", "resize"))([encoder, low_level])
    x = keras.layers.Concatenate(name=keras_name("decoder", "concat"))([upsampled, projection])
    depth = scaled_channels(decoder_depth, width_multiplier)
    if decoder_separable:
        x = separable_conv_bn(x, depth, name="decoder/decoder_conv0", bn=HEAD_BN)
        return separable_conv_bn(x, depth, name="decoder/decoder_conv1", bn=HEAD_BN)
    x = conv_bn(x, depth, 3, name="decoder/decoder_conv0/decoder_conv0_1", bn=HEAD_BN)
    return conv_bn(x, depth, 3, name="decoder/decoder_conv0/decoder_conv0_2", bn=HEAD_BN)


def decoder_head(endpoints, *, num_classes, atrous_rates, aspp_depth=256, image_pooling=True,
                 aspp_separable=False, dropout=0.1, low_level_depth=48, decoder_depth=256,
                 decoder_separable=False, width_multiplier=1.0):
    """v3+ head -> (logits [B, H4, W4, num_classes] at stride 4, class layer names)."""
    if 4 not in endpoints:
        raise ValueError("the backbone has no stride-4 end point for the v3+ decoder")
    encoder = aspp(endpoints["out"], atrous_rates=atrous_rates, aspp_depth=aspp_depth,
                   image_pooling=image_pooling, aspp_separable=aspp_separable, dropout=dropout,
                   width_multiplier=width_multiplier)
    x = decoder(encoder, endpoints[4], low_level_depth=low_level_depth,
                decoder_depth=decoder_depth, decoder_separable=decoder_separable,
                width_multiplier=width_multiplier)
    return logits_layer(x, num_classes)

"""MobileNetV2 (Sandler et al., arXiv 1801.04381) as the official DeepLab code builds it.

Follows tensorflow/models research/slim/nets/mobilenet/{mobilenet.py, mobilenet_v2.py} (V2_DEF)
and research/deeplab/core/feature_extractor.py (_mobilenet_v2), so that the official weights
(model zoo checkpoints, the official TFLite files) load by name:

- layer names: MobilenetV2/Conv, MobilenetV2/expanded_conv (no expansion),
  MobilenetV2/expanded_conv_N/{expand,depthwise,project}, each with a BatchNorm sub-scope;
- ReLU6 after Conv, expand and depthwise; the project convolution is linear;
- "SAME" padding everywhere; residual add when stride is 1 and channels match;
- DeepLab stops at layer_18 (expanded_conv_16); the 1280-channel Conv_1 is not built.

Channel counts follow the official depth-multiplier rule, not keras.applications': DeepLab
calls mobilenet_base with divisible_by = min_depth = 8 when depth_multiplier == 1.0 and 1
otherwise, so depth multiplier 0.5 gives 16, 8, 12, 12, 16, ... channels (keras.applications
would round 12 up to 16, and could not hold the official weights). Expansion widths are
_make_divisible(in_channels * 6, 8) in every case (expand_input_by_factor's default).
"""
import re

import keras

from deeplab_tf.models.backbones import BACKBONES
from deeplab_tf.models.backbones.atrous import AtrousRule
from deeplab_tf.models.layers import activate, batch_norm, conv_bn
from deeplab_tf.models.naming import keras_name

SCOPE = BACKBONES["mobilenetv2"].official_scope

# V2_DEF of slim mobilenet_v2.py: (expansion factor, output channels, stride) per expanded_conv.
# The first block keeps its input width (expand_input(1, divisible_by=1)), so it has no
# "expand" convolution at all.
STEM_CHANNELS = 32
BLOCKS = (
    (1, 16, 1),
    (6, 24, 2), (6, 24, 1),
    (6, 32, 2), (6, 32, 1), (6, 32, 1),
    (6, 64, 2), (6, 64, 1), (6, 64, 1), (6, 64, 1),
    (6, 96, 1), (6, 96, 1), (6, 96, 1),
    (6, 160, 2), (6, 160, 1), (6, 160, 1),
    (6, 320, 1),
)


def block_scope(index, scope=SCOPE):
    """Official scope of the index-th expanded_conv (slim numbers repeats _1, _2, ...)."""
    return f"{scope}/expanded_conv" + (f"_{index}" if index else "")


def end_point_block(end_point):
    """The expanded_conv index of an official "layer_N/depthwise_output" end point.

    slim mobilenet numbers the V2_DEF layers from 1: layer_1 is Conv and layer_2 the first
    expanded_conv, so layer_N is expanded_conv_{N-2} (the decoder's 'layer_4/depthwise_output'
    is expanded_conv_2's depthwise output, after ReLU6, at stride 4).
    """
    match = re.fullmatch(r"layer_(\d+)/depthwise_output", end_point)
    if not match or not 2 <= int(match.group(1)) < len(BLOCKS) + 2:
        raise ValueError(f"decoder_end_point={end_point!r}; allowed: layer_N/depthwise_output "
                         f"for N in 2..{len(BLOCKS) + 1}")
    return int(match.group(1)) - 2


def make_divisible(value, divisor, min_value=None):
    """slim mobilenet._make_divisible: round to a multiple of divisor, never below min_value
    and never more than 10% down."""
    if min_value is None:
        min_value = divisor
    new_value = max(min_value, int(value + divisor / 2) // divisor * divisor)
    if new_value < 0.9 * value:
        new_value += divisor
    return new_value


def channel_plan(depth_multiplier=1.0):
    """Channel counts of the official layout.

    Returns:
      (stem channels, [(expansion channels or None, output channels, stride), ...]) for the
      17 expanded_conv blocks; expansion None means no expand convolution.
    """
    # feature_extractor._mobilenet_v2: divisible_by and min_depth are 8 at multiplier 1.0, else 1.
    divisor = 8 if depth_multiplier == 1.0 else 1

    def depth(channels):
        return make_divisible(channels * depth_multiplier, divisor, divisor)

    stem = depth(STEM_CHANNELS)
    plan, in_channels = [], stem
    for expansion, out_channels, stride in BLOCKS:
        inner = in_channels if expansion == 1 else make_divisible(in_channels * expansion, 8)
        out = depth(out_channels)
        # ops.expanded_conv expands only when the inner size exceeds the input width.
        plan.append((inner if inner > in_channels else None, out, stride))
        in_channels = out
    return stem, plan


def atrous_schedule(output_stride):
    """(stride, rate) of the stem and of each block under the atrous rule every backbone
    shares (backbones/atrous.AtrousRule; slim mobilenet_base applies the same rule): OS8
    gives rate 2 in expanded_conv_7..13 and 4 in 14..16; OS16 gives rate 2 in
    expanded_conv_14..16."""
    rule = AtrousRule(output_stride, "mobilenetv2")
    schedule = [rule.unit(stride) for stride in (2,) + tuple(s for _, _, s in BLOCKS)]
    rule.check_reached()
    return schedule


def _expanded_conv(x, index, inner, out_channels, stride, rate, bn, root):
    scope = block_scope(index, root)
    shortcut = x
    if inner is not None:
        x = conv_bn(x, inner, 1, name=f"{scope}/expand", bn=bn, activation="relu6")
    x = keras.layers.DepthwiseConv2D(
        3, strides=stride, dilation_rate=rate, padding="same", use_bias=False,
        name=keras_name(scope, "depthwise"))(x)
    x = batch_norm(bn, keras_name(scope, "depthwise/BatchNorm"))(x)
    depthwise_output = activate(x, "relu6", f"{scope}/depthwise")
    x = conv_bn(depthwise_output, out_channels, 1, name=f"{scope}/project", bn=bn,
                activation=None)
    # ops.expanded_conv: residual when the (possibly atrous-modified) stride is 1 and the
    # widths match.
    if stride == 1 and shortcut.shape[-1] == out_channels:
        x = keras.layers.Add(name=keras_name(scope, "add"))([x, shortcut])
    return x, depthwise_output


def build_mobilenet_v2(x, *, output_stride, bn, scope, decoder_end_point, width_multiplier=1.0,
                       depth_multiplier=1.0):
    """Builds the DeepLab MobileNetV2 feature extractor on x.

    Args:
      x: preprocessed images [B, H, W, 3] in [-1, 1].
      output_stride: 8, 16 or 32.
      bn: {"momentum", "epsilon", "scale"}.
      scope: the official scope root, "MobilenetV2" (BackboneSpec.official_scope).
      decoder_end_point: "layer_N/depthwise_output" returned as endpoint 4
        (BackboneSpec.decoder_end_point).
      width_multiplier: extra channel scale for tiny test models (multiplies depth_multiplier;
        the official rounding rule is applied to the product).
      depth_multiplier: the official multiplier (1.0 or 0.5 in the model zoo).
    Returns:
      {4: [B, H/4, W/4, C4] (decoder_end_point: expanded_conv_2's depthwise output),
       8: ..., 16: ..., 32: ... (block outputs that end each nominal stride, for s <=
       output_stride), "out": [B, (H-1)/OS+1, (W-1)/OS+1, 320 * multiplier]}.
    """
    if output_stride not in (8, 16, 32):
        raise ValueError(f"output_stride={output_stride!r} is not supported by MobileNetV2; "
                         "allowed: 8, 16, 32")
    stem, plan = channel_plan(depth_multiplier * width_multiplier)
    decoder_block = end_point_block(decoder_end_point)
    rule = AtrousRule(output_stride, "mobilenetv2")
    stride, rate = rule.unit(2)
    x = conv_bn(x, stem, 3, name=f"{scope}/Conv", bn=bn, stride=stride, rate=rate,
                activation="relu6")
    endpoints = {}
    for index, (inner, out_channels, block_stride) in enumerate(plan):
        if block_stride == 2 and 8 <= rule.nominal_stride <= output_stride:
            endpoints[rule.nominal_stride] = x  # last map at this nominal stride
        stride, rate = rule.unit(block_stride)
        x, depthwise_output = _expanded_conv(x, index, inner, out_channels, stride, rate, bn,
                                             scope)
        if index == decoder_block:
            endpoints[4] = depthwise_output
    rule.check_reached()
    if rule.nominal_stride <= output_stride:
        endpoints[rule.nominal_stride] = x
    endpoints["out"] = x
    return endpoints

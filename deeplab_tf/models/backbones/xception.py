"""Modified aligned Xception-65 of DeepLab v3+ (arXiv 1802.02611, Sec. 3.2 and Fig. 4).

Follows the official research/deeplab/core/xception.py (xception_65_factory):
- root: entry_flow/conv1_1 (3x3/2, 32) and entry_flow/conv1_2 (3x3, 64), conv + BN + ReLU;
- entry flow: block1..3 (128, 256, 728), one unit each, stride 2 in the third separable conv
  (no max pooling) and a 1x1 strided "shortcut" conv + BN;
- middle flow: block1 with 16 units of three 728 separable convs and an identity sum;
- exit flow: block1 (728, 1024, 1024; stride 2, conv shortcut), block2 (1536, 1536, 2048;
  stride 1, no shortcut, unit rates = multi_grid).
Every separable conv is depthwise 3x3 + BN, then pointwise 1x1 + BN. In all blocks but the
last, ReLU comes BEFORE each separable conv ("activation_fn_in_separable_conv=False", the
official "original network design"); exit_flow/block2 has ReLU after its depthwise and
pointwise BNs. The paper's figure draws BN+ReLU after every depthwise conv; the official
code and its checkpoints use the pre-activation form, which we follow (BUILD_NOTES.md).
Strided separable convs pad explicitly (xception.separable_conv2d_same). Nominal stride 32.
"""
import keras

from deeplab_tf.models.backbones.atrous import AtrousRule
from deeplab_tf.models.layers import conv2d_same, conv_bn, scaled_channels, separable_conv_bn
from deeplab_tf.models.naming import keras_name

# (scope, depth_list, skip connection, activation inside the separable convs, units, stride)
_XCEPTION_65 = (
    ("entry_flow/block1", (128, 128, 128), "conv", False, 1, 2),
    ("entry_flow/block2", (256, 256, 256), "conv", False, 1, 2),
    ("entry_flow/block3", (728, 728, 728), "conv", False, 1, 2),
    ("middle_flow/block1", (728, 728, 728), "sum", False, 16, 1),
    ("exit_flow/block1", (728, 1024, 1024), "conv", False, 1, 2),
    ("exit_flow/block2", (1536, 1536, 2048), "none", True, 1, 1),
)


def xception_module(x, depth_list, *, skip, act_inside, stride, rate, unit_rates, scope, bn,
                    taps=None):
    """One xception_module: three separable convs plus a shortcut.

    [B, H, W, Cin] -> [B, H/stride, W/stride, depth_list[2]]. `taps` (a dict) receives the
    output of each separable conv by its official scope name.
    """
    inputs = x
    for i in range(3):
        name = f"{scope}/separable_conv{i + 1}"
        if not act_inside:
            x = keras.layers.ReLU(name=keras_name(name, "preact_Relu"))(x)
        act = "relu" if act_inside else None
        x = separable_conv_bn(
            x, depth_list[i], name=name, bn=bn, stride=stride if i == 2 else 1,
            rate=rate * unit_rates[i], depthwise_activation=act, pointwise_activation=act,
            explicit_padding=True)
        if taps is not None:
            taps[f"{name}_pointwise"] = x
    if skip == "conv":
        shortcut = conv_bn(inputs, depth_list[2], 1, stride=stride, name=f"{scope}/shortcut",
                           bn=bn, activation=None)
        return keras.layers.Add(name=keras_name(scope, "add"))([x, shortcut])
    if skip == "sum":
        return keras.layers.Add(name=keras_name(scope, "add"))([x, inputs])
    return x


def build_xception65(x, *, output_stride, bn, scope, decoder_end_point, multi_grid=(1, 1, 1),
                     width_multiplier=1.0):
    """Xception-65 feature extractor.

    Args:
      x: preprocessed images [B, H, W, 3] in [-1, 1].
      output_stride: 8, 16 or 32.
      scope: the official scope root, "xception_65" (BackboneSpec.official_scope).
      decoder_end_point: the separable conv, relative to scope, returned as endpoint 4
        (BackboneSpec.decoder_end_point).
      multi_grid: unit rates of the three separable convs of exit_flow/block2.
    Returns:
      endpoints {4: decoder_end_point [B, (H-1)/4+1, ., 256w], 8: ..., 16: ...,
      "out": [B, (H-1)/OS+1, (W-1)/OS+1, 2048w]}.
    """
    if len(multi_grid) != 3:
        raise ValueError(f"multi_grid={tuple(multi_grid)!r} must have 3 rates")
    ch = lambda c: scaled_channels(c, width_multiplier)  # noqa: E731
    rule = AtrousRule(output_stride, "xception65")
    endpoints = {}
    root_stride, _ = rule.unit(2)
    x = conv2d_same(x, ch(32), 3, stride=root_stride, name=f"{scope}/entry_flow/conv1_1", bn=bn)
    x = conv2d_same(x, ch(64), 3, name=f"{scope}/entry_flow/conv1_2", bn=bn)
    taps = {}
    for block, depths, skip, act_inside, num_units, block_stride in _XCEPTION_65:
        for u in range(1, num_units + 1):
            if rule.nominal_stride <= output_stride:
                endpoints[rule.nominal_stride] = x
            stride, rate = rule.unit(block_stride)
            unit_rates = tuple(multi_grid) if block == "exit_flow/block2" else (1, 1, 1)
            x = xception_module(
                x, [ch(d) for d in depths], skip=skip, act_inside=act_inside, stride=stride,
                rate=rate, unit_rates=unit_rates,
                scope=f"{scope}/{block}/unit_{u}/xception_module", bn=bn, taps=taps)
    rule.check_reached()
    endpoints[4] = taps[f"{scope}/{decoder_end_point}"]
    endpoints["out"] = x
    return endpoints

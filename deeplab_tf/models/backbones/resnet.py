"""ResNet-50/101 v1 as in the official research/deeplab/core/resnet_v1_beta.py.

- Bottleneck units (1x1, 3x3, 1x1, BN after each conv, ReLU after the sum); the stride of a
  block sits in its LAST unit (slim convention), block4 has stride 1, so the nominal stride is
  32 and OS 8/16/32 come from the atrous rule (backbones/atrous.py).
- Stem: the original 7x7/2 conv ("conv1"), or the official "beta" stem of three 3x3 convs
  ("conv1_1" stride 2, "conv1_2", "conv1_3" with 64, 64, 128 channels), then a 3x3/2 max pool.
- multi_grid: unit rates of block4 (DeepLab v3, arXiv 1706.05587, Sec. 3.2); the rate of unit
  i is the block rate times multi_grid[i].
- DeepLab v2's ResNet-101 (res4 dilation 2, res5 dilation 4) is this network at OS8.
- extra_blocks: the cascaded DeepLab v3 (Sec. 3.2): block5, block6, ... are copies of block4;
  each block but the last gets a nominal stride 2 in its last unit, so at OS16 the rates of
  block4..block7 are 2, 4, 8, 16 as in the paper.
Strided convs use explicit fixed padding (resnet_utils.conv2d_same).
"""
import keras

from deeplab_tf.models.backbones.atrous import AtrousRule
from deeplab_tf.models.layers import conv2d_same, conv_bn, scaled_channels
from deeplab_tf.models.naming import keras_name

# Units per block (He et al. 2016, Table 1).
_UNITS = {50: (3, 4, 6, 3), 101: (3, 4, 23, 3)}
_BASE_DEPTHS = (64, 128, 256, 512)


def bottleneck(x, depth, depth_bottleneck, *, stride, rate, scope, bn):
    """One bottleneck_v1 unit. [B, H, W, Cin] -> [B, H/stride, W/stride, depth]."""
    if x.shape[-1] == depth:
        shortcut = x
        if stride > 1:  # resnet_utils.subsample: a 1x1 max pool with the stride
            shortcut = keras.layers.MaxPooling2D(1, strides=stride,
                                                 name=keras_name(scope, "shortcut"))(x)
    else:
        shortcut = conv_bn(x, depth, 1, stride=stride, name=f"{scope}/shortcut", bn=bn,
                           activation=None)
    residual = conv_bn(x, depth_bottleneck, 1, name=f"{scope}/conv1", bn=bn)
    residual = conv2d_same(residual, depth_bottleneck, 3, stride=stride, rate=rate,
                           name=f"{scope}/conv2", bn=bn)
    residual = conv_bn(residual, depth, 1, name=f"{scope}/conv3", bn=bn, activation=None)
    out = keras.layers.Add(name=keras_name(scope, "add"))([shortcut, residual])
    return keras.layers.ReLU(name=keras_name(scope, "Relu"))(out), residual


def build_resnet_v1(x, *, output_stride, bn, scope, decoder_end_point, depth=101, beta=True,
                    multi_grid=(1, 1, 1), extra_blocks=0, width_multiplier=1.0):
    """ResNet v1 feature extractor.

    Args:
      x: preprocessed images [B, H, W, 3].
      output_stride: 8, 16 or 32.
      bn: {"momentum", "epsilon", "scale"}.
      scope: the official scope root, "resnet_v1_<depth>" (BackboneSpec.official_scope).
      decoder_end_point: the unit conv, relative to scope, returned as endpoint 4
        (BackboneSpec.decoder_end_point: "block1/unit_2/bottleneck_v1/conv3").
      depth: 50 or 101.
      beta: three 3x3 convs as the stem instead of one 7x7.
      multi_grid: three unit rates for block4 (and its copies).
      extra_blocks: number of block4 copies (block5...) for the cascaded DeepLab v3.
    Returns:
      endpoints {4: decoder_end_point (a conv3 after BN, before the sum), 8: ..., 16: ...,
      "out": [B, (H-1)/OS+1, (W-1)/OS+1, 2048w]}.
    """
    if depth not in _UNITS:
        raise ValueError(f"ResNet depth={depth!r}; allowed: {sorted(_UNITS)}")
    if len(multi_grid) != 3:
        raise ValueError(f"multi_grid={tuple(multi_grid)!r} must have 3 rates (block4 units)")
    ch = lambda c: scaled_channels(c, width_multiplier)  # noqa: E731
    rule = AtrousRule(output_stride, scope)
    endpoints, decoder_feature = {}, None
    # Root: stride 2 conv then stride 2 max pool (nominal stride 4; never atrous for OS >= 8).
    stem_stride, _ = rule.unit(2)
    if beta:
        x = conv2d_same(x, ch(64), 3, stride=stem_stride, name=f"{scope}/conv1_1", bn=bn)
        x = conv2d_same(x, ch(64), 3, name=f"{scope}/conv1_2", bn=bn)
        x = conv2d_same(x, ch(128), 3, name=f"{scope}/conv1_3", bn=bn)
    else:
        x = conv2d_same(x, ch(64), 7, stride=stem_stride, name=f"{scope}/conv1", bn=bn)
    endpoints[2] = x
    pool_stride, _ = rule.unit(2)
    x = keras.layers.MaxPooling2D(3, strides=pool_stride, padding="same",
                                  name=keras_name(scope, "pool1"))(x)

    units = list(_UNITS[depth]) + [_UNITS[depth][3]] * extra_blocks
    base_depths = list(_BASE_DEPTHS) + [_BASE_DEPTHS[3]] * extra_blocks
    num_blocks = len(units)
    for b, (num_units, base) in enumerate(zip(units, base_depths), start=1):
        last_block = b == num_blocks
        for u in range(1, num_units + 1):
            nominal = 2 if (u == num_units and not last_block) else 1
            unit_rate = multi_grid[u - 1] if b >= 4 else 1
            if rule.nominal_stride <= output_stride:
                endpoints[rule.nominal_stride] = x
            stride, rate = rule.unit(nominal)
            unit_scope = f"{scope}/block{b}/unit_{u}/bottleneck_v1"
            x, residual = bottleneck(x, ch(base * 4), ch(base), stride=stride,
                                     rate=rate * unit_rate, scope=unit_scope, bn=bn)
            if f"{unit_scope}/conv3" == f"{scope}/{decoder_end_point}":
                decoder_feature = residual
    rule.check_reached()
    if decoder_feature is None:
        raise ValueError(f"decoder_end_point={decoder_end_point!r} is not a conv3 of {scope}")
    endpoints[4] = decoder_feature
    endpoints["out"] = x
    return endpoints

"""MobileNetV2 backbone: the official channel layout, atrous schedule and endpoints."""
import keras
import numpy as np
import pytest

from deeplab_tf.models.backbones import get_backbone
from deeplab_tf.models.backbones import mobilenet_v2 as mnv2


def test_channel_plan_depth_multiplier_05_is_not_rounded_to_8():
    # Widths of the official float file deeplabv3_257_mv_gpu.tflite (depth multiplier 0.5).
    stem, plan = mnv2.channel_plan(0.5)
    assert stem == 16
    assert [out for _, out, _ in plan] == [8, 12, 12, 16, 16, 16, 32, 32, 32, 32, 48, 48, 48,
                                           80, 80, 80, 160]
    assert [inner for inner, _, _ in plan][:4] == [None, 48, 72, 72]


def test_channel_plan_depth_multiplier_1():
    stem, plan = mnv2.channel_plan(1.0)
    assert stem == 32
    assert [out for _, out, _ in plan] == [16, 24, 24, 32, 32, 32, 64, 64, 64, 64, 96, 96, 96,
                                           160, 160, 160, 320]
    assert plan[-1][0] == 960


@pytest.mark.parametrize("output_stride, rates", [
    (8, [1] * 7 + [2] * 7 + [4] * 3),
    (16, [1] * 14 + [2] * 3),
    (32, [1] * 17),
])
def test_atrous_schedule_slim_rule(output_stride, rates):
    schedule = mnv2.atrous_schedule(output_stride)
    assert [r for _, r in schedule[1:]] == rates
    assert np.prod([s for s, _ in schedule]) == output_stride


@pytest.mark.parametrize("output_stride", [8, 16, 32])
@pytest.mark.parametrize("size", [65, 64])
def test_endpoints_shapes_tiny(output_stride, size):
    spec = get_backbone("mobilenetv2")
    images = keras.Input((size, size, 3))
    endpoints = spec.build(images, output_stride=output_stride, bn=spec.bn, width_multiplier=0.125)
    out = -(-size // output_stride)  # "SAME" padding: ceil(size / OS)
    assert tuple(endpoints["out"].shape[1:3]) == (out, out)
    assert endpoints["out"].shape[-1] == 40  # 320 * 0.125, multiplier != 1 => no rounding
    assert tuple(endpoints[4].shape[1:3]) == (-(-size // 4),) * 2
    assert sorted(k for k in endpoints if k != "out") == [s for s in (4, 8, 16, 32)
                                                          if s <= output_stride]


def test_official_layer_names_and_bad_stride():
    spec = get_backbone("mobilenetv2_dm05")
    images = keras.Input((33, 33, 3))
    model = keras.Model(images, spec.build(images, output_stride=16, bn=spec.bn)["out"])
    names = {layer.name for layer in model.layers}
    assert {"MobilenetV2.Conv", "MobilenetV2.Conv.BatchNorm", "MobilenetV2.expanded_conv.depthwise",
            "MobilenetV2.expanded_conv_16.project.BatchNorm"} <= names
    assert "MobilenetV2.expanded_conv.expand" not in names
    assert "MobilenetV2.expanded_conv_1.expand" in names
    with pytest.raises(ValueError, match="output_stride=4"):
        spec.build(images, output_stride=4, bn=spec.bn)

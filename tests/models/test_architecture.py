"""Official layer names, atrous rates and head structure of the built models."""
import keras
import pytest

from deeplab_tf.models.builder import build_model, model_info
from tests.models.tiny import build_tiny, tiny_overrides


def _layer(model, name):
    return model.get_layer(name)


def test_resnet101_beta_names_and_multigrid_rates_os16():
    model = build_tiny("deeplabv3_resnet101", 16)
    names = {layer.name for layer in model.layers}
    for n in ("resnet_v1_101.conv1_1", "resnet_v1_101.conv1_2", "resnet_v1_101.conv1_3",
              "resnet_v1_101.conv1_1.BatchNorm",
              "resnet_v1_101.block1.unit_1.bottleneck_v1.shortcut",
              "resnet_v1_101.block3.unit_23.bottleneck_v1.conv3",
              "aspp0", "aspp1", "aspp3", "image_pooling", "concat_projection",
              "logits.semantic"):
        assert n in names, n
    # Stride in the last unit of block1..3 (slim convention), block4 multi-grid (1, 2, 4)
    # times the block rate 2 at OS16.
    assert _layer(model, "resnet_v1_101.block1.unit_3.bottleneck_v1.conv2").strides == (2, 2)
    assert _layer(model, "resnet_v1_101.block3.unit_23.bottleneck_v1.conv2").strides == (1, 1)
    assert [_layer(model, f"resnet_v1_101.block4.unit_{u}.bottleneck_v1.conv2").dilation_rate
            for u in (1, 2, 3)] == [(2, 2), (4, 4), (8, 8)]
    assert [_layer(model, f"aspp{i}").dilation_rate for i in (1, 2, 3)] == [(6, 6), (12, 12),
                                                                             (18, 18)]


def test_aspp_rates_doubled_at_os8():
    model = build_tiny("deeplabv3_resnet50", 8)
    assert [_layer(model, f"aspp{i}").dilation_rate for i in (1, 2, 3)] == [(12, 12), (24, 24),
                                                                             (36, 36)]
    assert _layer(model, "resnet_v1_50.block3.unit_1.bottleneck_v1.conv2").dilation_rate == (2, 2)


def test_v2_resnet_res4_rate2_res5_rate4_and_summed_branches():
    model = build_tiny("deeplabv2_resnet101_aspp_l", 8)
    assert "resnet_v1_101.conv1" in {layer.name for layer in model.layers}  # 7x7 stem
    assert _layer(model, "resnet_v1_101.conv1").kernel_size == (7, 7)
    assert all(_layer(model, f"resnet_v1_101.block3.unit_{u}.bottleneck_v1.conv2").dilation_rate
               == (2, 2) for u in range(1, 24))
    assert _layer(model, "resnet_v1_101.block4.unit_1.bottleneck_v1.conv2").dilation_rate == (4, 4)
    rates = [_layer(model, n).dilation_rate[0]
             for n in ("logits.semantic", "logits.semantic_1", "logits.semantic_2",
                       "logits.semantic_3")]
    assert rates == [6, 12, 18, 24]
    assert isinstance(_layer(model, "logits.sum"), keras.layers.Add)
    assert model_info("deeplabv2_resnet101_aspp_l")["logits_layers"] == [
        "logits.semantic", "logits.semantic_1", "logits.semantic_2", "logits.semantic_3"]


def test_vgg_largefov_structure():
    model = build_tiny("deeplabv1_vgg16_largefov")
    assert _layer(model, "vgg_16.conv5.conv5_3").dilation_rate == (2, 2)
    assert _layer(model, "vgg_16.conv4.conv4_3").dilation_rate == (1, 1)
    assert _layer(model, "vgg_16.pool4").strides == (1, 1)
    assert _layer(model, "vgg_16.pool5").strides == (1, 1)
    assert _layer(model, "vgg_16.pool3").strides == (2, 2)
    assert _layer(model, "fc6").dilation_rate == (12, 12) and _layer(model, "fc6").kernel_size == (3, 3)
    assert _layer(model, "fc8").filters == 3


def test_v2_vgg_aspp_s_branches():
    model = build_tiny("deeplabv2_vgg16_aspp_s")
    assert [_layer(model, f"fc6_{i}").dilation_rate[0] for i in (1, 2, 3, 4)] == [2, 4, 8, 12]
    assert model_info("deeplabv2_vgg16_aspp_s")["logits_layers"] == [
        "fc8_1", "fc8_2", "fc8_3", "fc8_4"]


def test_xception_names_and_decoder():
    model = build_tiny("deeplabv3plus_xception65", 16)
    names = {layer.name for layer in model.layers}
    prefix = "xception_65.entry_flow.block1.unit_1.xception_module"
    for n in ("xception_65.entry_flow.conv1_1", "xception_65.entry_flow.conv1_2",
              f"{prefix}.separable_conv1_depthwise", f"{prefix}.separable_conv1_depthwise.BatchNorm",
              f"{prefix}.separable_conv3_pointwise", f"{prefix}.shortcut",
              "xception_65.middle_flow.block1.unit_16.xception_module.separable_conv3_pointwise",
              "xception_65.exit_flow.block2.unit_1.xception_module.separable_conv3_pointwise",
              "aspp1_depthwise", "aspp1_pointwise", "decoder.feature_projection0",
              "decoder.decoder_conv0_depthwise", "decoder.decoder_conv1_pointwise",
              "logits.semantic"):
        assert n in names, n
    assert not any("middle_flow.block1.unit_17" in n for n in names)
    # No max pooling: the entry flow strides come from separable convs.
    assert not any(isinstance(layer, keras.layers.MaxPooling2D) for layer in model.layers)
    assert _layer(model, f"{prefix}.separable_conv3_depthwise").strides == (2, 2)
    exit2 = "xception_65.exit_flow.block2.unit_1.xception_module"
    assert _layer(model, f"{exit2}.separable_conv1_depthwise").dilation_rate == (2, 2)
    # Decoder works at stride 4: 33 px -> 9x9 features.
    import numpy as np
    proj = keras.Model(model.input, _layer(model, "decoder.feature_projection0").output)
    assert tuple(proj(np.zeros((1, 33, 33, 3), "float32")).shape[:3]) == (1, 9, 9)


def test_plain_decoder_uses_official_repeat_names():
    model = build_tiny("deeplabv3plus_resnet101", 16)
    for n in ("decoder.feature_projection0", "decoder.decoder_conv0.decoder_conv0_1",
              "decoder.decoder_conv0.decoder_conv0_2"):
        assert _layer(model, n).kernel_size in ((1, 1), (3, 3))


def test_mobilenet_head_is_the_official_aspp_lite():
    model = build_tiny("deeplabv3_mobilenetv2")
    top = {layer.name for layer in model.layers if not layer.name.startswith("MobilenetV2")}
    convs = {n for n in top if isinstance(model.get_layer(n), keras.layers.Conv2D)}
    assert convs == {"image_pooling", "aspp0", "concat_projection", "logits.semantic"}
    assert _layer(model, "aspp0.Relu").max_value is None  # ReLU, not ReLU6
    concat = _layer(model, "concat")
    assert [t._keras_history[0].name for t in concat.input] == ["image_pooling.resize",
                                                                 "aspp0.Relu"]


def test_model_info_fields():
    info = model_info("deeplabv3plus_xception65", num_classes=5, output_stride=8)
    assert info["output_stride"] == 8 and info["num_classes"] == 5
    assert info["config"]["atrous_rates"] == (12, 24, 36)
    assert info["preprocessing"] == "minus_one_to_one"
    assert info["mean_pixel"] == (127.5, 127.5, 127.5)
    assert info["backbone"].official_scope == "xception_65"
    assert info["backbone"].bn == {"momentum": 0.9997, "epsilon": 1e-3, "scale": True}
    assert info["logits_layers"] == ["logits.semantic"]
    assert model_info("deeplabv2_resnet101_aspp_l")["mean_pixel"] == (123.15, 115.90, 103.06)


@pytest.mark.parametrize("preset", ["deeplabv1_vgg16_largefov", "deeplabv2_vgg16_aspp_l",
                                    "deeplabv3_mobilenetv2", "deeplabv3plus_resnet101"])
def test_logits_layers_exist_and_depend_on_classes(preset):
    model = build_tiny(preset)
    for name in model_info(preset, **tiny_overrides(preset))["logits_layers"]:
        assert model.get_layer(name).filters == 3


def test_v1_largefov_parameter_count_matches_the_paper_design():
    # Conv weights + biases of VGG-16 conv1_1..conv5_3, fc6 3x3x512x1024, fc7 1x1x1024x1024,
    # fc8 1x1x1024x21: the "20.5M" of the v1 paper.
    chans = [3, 64, 64, 128, 128, 256, 256, 256, 512, 512, 512, 512, 512, 512]
    vgg = sum(9 * a * b + b for a, b in zip(chans[:-1], chans[1:]))
    expected = vgg + (9 * 512 * 1024 + 1024) + (1024 * 1024 + 1024) + (1024 * 21 + 21)
    model = build_model("deeplabv1_vgg16_largefov")
    assert model.count_params() == expected
    assert abs(expected / 20.5e6 - 1) < 0.01


def test_layer_names_are_explicit_and_stable_across_builds():
    # Weights are mapped and copied by layer name (official conversion, OS change in
    # inference.py): a second build in the same session must give the same names, and no
    # Keras auto-names ("re_lu_3") may appear.
    first = [layer.name for layer in build_tiny("deeplabv3plus_mobilenetv2").layers]
    second = [layer.name for layer in build_tiny("deeplabv3plus_mobilenetv2").layers]
    assert first == second and len(set(first)) == len(first)


# Presets whose recorded parameter count another test checks on a full-width model it builds
# anyway (building one costs seconds).
_PARAMS_CHECKED_ELSEWHERE = {
    "deeplabv1_vgg16_largefov": "test_multiply_adds.py",
    "deeplabv3_resnet101": "test_multiply_adds.py",
    "deeplabv3plus_resnet101": "test_multiply_adds.py",
    "deeplabv3plus_xception65": "test_multiply_adds.py",
    "deeplabv3_mobilenetv2": "test_multiply_adds.py",
    "deeplabv3_mobilenetv2_dm05": "tests/weights/test_official_parity.py",
    "fcn8s_vgg16": "test_baselines.py", "segnet_vgg16": "test_baselines.py",
    "dilation8_vgg16": "test_baselines.py",
}


def test_recorded_parameter_counts():
    """presets.PresetInfo.params is count_params() of the full-width preset at its classes."""
    import deeplab_tf
    built = sorted(set(deeplab_tf.list_presets()) - set(_PARAMS_CHECKED_ELSEWHERE))
    for preset in built:
        model = build_model(preset)
        assert model.count_params() == deeplab_tf.preset_info(preset)["params"], preset
        del model
        keras.backend.clear_session()
    assert set(built) | set(_PARAMS_CHECKED_ELSEWHERE) == set(deeplab_tf.list_presets())


def test_preset_info_names_paper_rows_and_flagfiles_that_train_the_preset():
    import pathlib

    import deeplab_tf
    root = pathlib.Path(__file__).resolve().parents[2]
    recorded = set()
    for preset in deeplab_tf.list_presets():
        info = deeplab_tf.preset_info(preset)
        assert info["preset"] == preset and info["params"] > 0
        assert info["paper"] is None or info["paper"]["paper"] and info["paper"]["row"]
        if info["flagfile"] is None:
            continue
        lines = (root / info["flagfile"]).read_text().splitlines()
        assert f"--preset={preset}" in lines, info["flagfile"]
        recorded.add(info["flagfile"])
    # Every paper-row flagfile is some preset's recipe (camvid.flags is a fine-tuning recipe
    # of deeplabv3_mobilenetv2, whose recorded flagfile is the VOC one).
    flagfiles = {f"experiments/{p.name}" for p in (root / "experiments").glob("*.flags")}
    assert flagfiles - recorded == {"experiments/camvid.flags"}
    with pytest.raises(ValueError, match="allowed"):
        deeplab_tf.preset_info("deeplabv9")

"""Multiply-adds and parameters at 513x513 against the papers (full-width models).

Paper figures: v3+ paper (arXiv 1802.02611) Tables 3 and 5; v1 paper (arXiv 1412.7062)
Sec. 4.1 for the 20.5M parameters; the official model zoo (research/deeplab/g3doc/
model_zoo.md) for MobileNetV2. Counting conventions: deeplab_tf/models/summary.py.
"""
import keras
import pytest

from deeplab_tf.models.presets import preset_info
from deeplab_tf.models.summary import count, layer_multiply_adds, summarize


@pytest.mark.parametrize("preset,paper", [
    ("deeplabv3_resnet101", 81.02e9),        # Table 3: eval OS16, no decoder
    ("deeplabv3plus_resnet101", 101.28e9),   # Table 3: decoder, eval OS16
    ("deeplabv3plus_xception65", 54.17e9),   # Table 5: +SC, decoder, eval OS16
    ("deeplabv3_mobilenetv2", 2.75e9),       # official model zoo: mobilenetv2, eval OS16
])
def test_multiply_adds_within_3_percent_of_the_paper(preset, paper):
    result = summarize(preset, crop_size=(513, 513), output_stride=16)
    assert result["output_stride"] == 16 and result["crop_size"] == [513, 513]
    assert abs(result["multiply_adds"] / paper - 1) < 0.03, result
    assert result["params"] == preset_info(preset)["params"]   # the recorded count


def test_v1_largefov_params_within_3_percent():
    result = summarize("deeplabv1_vgg16_largefov")
    assert abs(result["params"] / 20.5e6 - 1) < 0.03
    assert result["params"] == preset_info("deeplabv1_vgg16_largefov")["params"]


def test_counting_rules_on_hand_computed_layers():
    x = keras.Input((33, 33, 8), batch_size=1)
    conv = keras.layers.Conv2D(4, 3, padding="same")
    dilated = keras.layers.Conv2D(4, 3, padding="same", dilation_rate=6)
    depthwise = keras.layers.DepthwiseConv2D(3, padding="same", dilation_rate=8)
    strided = keras.layers.Conv2D(4, 3, strides=2, padding="same")
    dense = keras.layers.Dense(5)
    outs = [conv(x), dilated(x), depthwise(x), strided(x), dense(x)]
    model = keras.Model(x, outs)
    assert layer_multiply_adds(conv) == 33 * 33 * 4 * 9 * 8
    assert layer_multiply_adds(strided) == 17 * 17 * 4 * 9 * 8
    assert layer_multiply_adds(dense) == 33 * 33 * 8 * 5
    # Dense count vs TF1 space-to-batch count: rate 6 on 33 px pads 33+12=45 -> 48, i.e.
    # 6 * (8 - 2) = 36 positions per dimension; rate 8: 33+16=49 -> 56, 8 * (7 - 2) = 40.
    assert layer_multiply_adds(dilated, space_to_batch=False) == 33 * 33 * 4 * 9 * 8
    assert layer_multiply_adds(dilated) == 36 * 36 * 4 * 9 * 8
    assert layer_multiply_adds(depthwise, space_to_batch=False) == 33 * 33 * 8 * 9
    assert layer_multiply_adds(depthwise) == 40 * 40 * 8 * 9
    counts = count(model)
    assert counts["params"] == model.count_params()
    assert counts["multiply_adds"] - counts["multiply_adds_dense"] == (36 * 36 - 33 * 33) * 288 + (
        40 * 40 - 33 * 33) * 72


def test_count_needs_static_shape():
    x = keras.Input((None, None, 3))
    model = keras.Model(x, keras.layers.Conv2D(2, 1)(x))
    with pytest.raises(ValueError, match="static input_shape"):
        count(model)

"""Custom layers: config round trip, official preprocessing and align_corners resizing."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from deeplab_tf.models.layers import MEAN_PIXEL, PREPROCESSING_MODES, Preprocess, ResizeBilinear
from deeplab_tf.models.naming import keras_name, official_scope


@pytest.mark.parametrize("layer", [
    Preprocess("minus_one_to_one", name="p1"), Preprocess("caffe_bgr_mean", name="p2"),
    Preprocess("imagenet_mean", name="p3"), ResizeBilinear(name="r1"),
    ResizeBilinear(size=(7, 5), name="r2", dtype="float32")])
def test_config_round_trip(layer):
    config = layer.get_config()
    clone = type(layer).from_config(config)
    assert clone.get_config() == config
    # Through Keras' registry too (what .keras loading uses).
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
    assert type(restored) is type(layer) and restored.get_config() == config


@pytest.mark.parametrize("mode", PREPROCESSING_MODES)
def test_mean_pixel_maps_to_zero(mode):
    pixel = np.array(MEAN_PIXEL[mode], "float32").reshape(1, 1, 1, 3)
    np.testing.assert_allclose(Preprocess(mode)(pixel).numpy(), 0.0, atol=1e-5)


def test_preprocess_values():
    rgb = np.array([[[[255.0, 0.0, 10.0]]]], "float32")
    np.testing.assert_allclose(Preprocess("minus_one_to_one")(rgb).numpy(),
                               [[[[1.0, -1.0, 10 / 127.5 - 1]]]], rtol=1e-6)
    # Official _MEAN_RGB = [123.15, 115.90, 103.06] (feature_extractor.py).
    np.testing.assert_allclose(Preprocess("imagenet_mean")(rgb).numpy(),
                               [[[[255 - 123.15, -115.90, 10 - 103.06]]]], rtol=1e-5)
    # Caffe: BGR order, mean_value 104.008, 116.669, 122.675.
    np.testing.assert_allclose(Preprocess("caffe_bgr_mean")(rgb).numpy(),
                               [[[[10 - 104.008, -116.669, 255 - 122.675]]]], rtol=1e-5)


def test_resize_is_align_corners():
    x = np.arange(3 * 3, dtype="float32").reshape(1, 3, 3, 1)
    ref = np.zeros((1, 5, 5, 1), "float32")
    y = ResizeBilinear()([x, ref]).numpy()[0, :, :, 0]
    # align_corners=True: corners are kept and the grid step is (3-1)/(5-1) = 0.5 px.
    assert y[0, 0] == 0 and y[0, -1] == 2 and y[-1, 0] == 6 and y[-1, -1] == 8
    np.testing.assert_allclose(y[0], [0, 0.5, 1, 1.5, 2])
    np.testing.assert_allclose(y, tf.compat.v1.image.resize_bilinear(
        x, (5, 5), align_corners=True).numpy()[0, :, :, 0])
    fixed = ResizeBilinear(size=(5, 5))(x).numpy()[0, :, :, 0]
    np.testing.assert_allclose(fixed, y)


def test_resize_same_size_is_identity():
    x = np.random.default_rng(0).normal(size=(2, 9, 7, 4)).astype("float32")
    np.testing.assert_array_equal(ResizeBilinear()([x, x]).numpy(), x)


def test_naming_round_trip():
    name = keras_name("xception_65/entry_flow/block1", "unit_1/xception_module")
    assert name == "xception_65.entry_flow.block1.unit_1.xception_module"
    assert official_scope(name) == "xception_65/entry_flow/block1/unit_1/xception_module"


def test_conv2d_same_pads_explicitly_for_strided_convs():
    """Even inputs: official resnet_utils.conv2d_same pads 1 on both sides (TF SAME would pad
    0 before, 1 after), so a 3x3/2 conv samples rows 0, 2, 4, ... centred like odd inputs."""
    from deeplab_tf.models.layers import conv2d_same
    bn = {"momentum": 0.9, "epsilon": 1e-3, "scale": True}
    x = keras.Input((8, 8, 2))
    model = keras.Model(x, conv2d_same(x, 3, 3, stride=2, name="s/conv", bn=bn, activation=None))
    images = np.random.default_rng(0).normal(size=(1, 8, 8, 2)).astype("float32")
    conv = model.get_layer("s.conv")
    expected = tf.nn.conv2d(np.pad(images, ((0, 0), (1, 1), (1, 1), (0, 0))), conv.kernel,
                            strides=2, padding="VALID")
    bn_layer = model.get_layer("s.conv.BatchNorm")
    expected = bn_layer(expected, training=False)
    np.testing.assert_allclose(model(images).numpy(), expected.numpy(), atol=1e-5)
    assert model.get_layer("s.conv.pad").padding == ((1, 1), (1, 1))

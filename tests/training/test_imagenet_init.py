"""Keras ImageNet weight files -> our backbones (a locally made file with random weights; no
download), and DeepLab v1's fc6/fc7 decimation."""
import keras
import numpy as np
import pytest

import deeplab_tf
from deeplab_tf.weights.imagenet import (ImageNetWeightsError, decimate_fc,
                                         load_imagenet_weights)


def test_mobilenetv2_file_initialises_the_backbone(tmp_path):
    keras.utils.set_random_seed(1)
    source = keras.applications.MobileNetV2(weights=None, include_top=False,
                                            input_shape=(96, 96, 3))
    path = str(tmp_path / "mobilenet_v2_no_top.weights.h5")
    source.save_weights(path)
    model = deeplab_tf.build_model("deeplabv3_mobilenetv2", num_classes=3)
    done = load_imagenet_weights(model, "mobilenetv2", path, log=lambda s: None)
    assert len(done) == 2 + 2 * 2 + 16 * 3 * 2   # stem, first block (no expand), 16 blocks
    np.testing.assert_array_equal(
        model.get_layer("MobilenetV2.expanded_conv_7.depthwise").get_weights()[0],
        source.get_layer("block_7_depthwise").get_weights()[0])
    np.testing.assert_array_equal(
        model.get_layer("MobilenetV2.expanded_conv_16.project.BatchNorm").get_weights()[3],
        source.get_layer("block_16_project_BN").get_weights()[3])


def test_narrow_model_does_not_fit_and_says_so(tmp_path):
    source = keras.applications.MobileNetV2(weights=None, include_top=False,
                                            input_shape=(96, 96, 3))
    path = str(tmp_path / "mnv2.weights.h5")
    source.save_weights(path)
    model = deeplab_tf.build_model("deeplabv3_mobilenetv2", num_classes=3,
                                   width_multiplier=0.5)
    with pytest.raises(ImageNetWeightsError, match="does not fit model"):
        load_imagenet_weights(model, "mobilenetv2", path, log=lambda s: None)


def test_unsupported_backbone_is_a_clear_error():
    with pytest.raises(ImageNetWeightsError, match="official:PATH"):
        load_imagenet_weights(None, "xception65")


def test_vgg_fc_decimation_as_deeplab_v1():
    # fc6: Keras Dense kernel [7*7*512, 4096] in (row, col, channel) order.
    kernel = np.arange(7 * 7 * 2 * 8, dtype=np.float32).reshape(7 * 7 * 2, 8)
    bias = np.arange(8, dtype=np.float32)
    conv, b = decimate_fc(kernel, bias, spatial=(7, [0, 3, 6]), out_step=4)
    assert conv.shape == (3, 3, 2, 2) and list(b) == [0, 4]
    full = kernel.reshape(7, 7, 2, 8)
    assert conv[1, 2, 1, 1] == full[3, 6, 1, 4]
    conv7, b7 = decimate_fc(np.ones((8, 8)), bias, in_step=4, out_step=4)
    assert conv7.shape == (1, 1, 2, 2)

"""Keras ImageNet weight files -> our backbones (a locally made file with random weights; no
download), and DeepLab v1's fc6/fc7 decimation."""
import keras
import numpy as np
import pytest

import deeplab_tf
from deeplab_tf.weights.imagenet import (ImageNetWeightsError, decimate_fc,
                                         load_imagenet_weights)
from tests.training.keras_files import write_keras_vgg16_file


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


@pytest.mark.parametrize("preset, fc_layers", [
    ("deeplabv1_vgg16_largefov", ["fc6", "fc7"]),
    ("deeplabv2_vgg16_aspp_l", [f"fc{k}_{i}" for i in range(1, 5) for k in (6, 7)])])
def test_vgg16_file_in_keras_layout_initialises_convs_and_decimated_fc(tmp_path, preset,
                                                                      fc_layers):
    model = deeplab_tf.build_model(preset, num_classes=3, width_multiplier=0.125)
    path = str(tmp_path / "vgg16_weights_tf_dim_ordering_tf_kernels.h5")
    source = write_keras_vgg16_file(path, model)
    done = load_imagenet_weights(model, "vgg16", path, log=lambda s: None)
    assert sorted(done) == sorted([f"vgg_16.conv{b}.conv{b}_{i}" for b, n in
                                   {1: 2, 2: 2, 3: 3, 4: 3, 5: 3}.items()
                                   for i in range(1, n + 1)] + fc_layers)
    np.testing.assert_array_equal(model.get_layer("vgg_16.conv4.conv4_2").get_weights()[0],
                                  source["block4_conv2"][0])
    fc6, _ = decimate_fc(*source["fc1"], spatial=(7, [0, 3, 6]), out_step=4)
    np.testing.assert_array_equal(model.get_layer(fc_layers[0]).get_weights()[0], fc6)


@pytest.mark.parametrize("preset", ["fcn8s_vgg16", "dilation8_vgg16", "segnet_vgg16"])
def test_baselines_start_from_the_vgg16_file_with_fc6_fc7_whole(tmp_path, preset):
    # FCN and the dilated front-end take VGG's fc1/fc2 as 7x7 / 1x1 convs, undecimated (FCN
    # CVPR 2015 Sec. 3.1); SegNet has no fc layers and takes the 13 convs (its BatchNorm
    # layers keep their initializer).
    from deeplab_tf.models.builder import model_info
    model = deeplab_tf.build_model(preset, num_classes=3, width_multiplier=0.125)
    path = str(tmp_path / "vgg16_weights_tf_dim_ordering_tf_kernels.h5")
    source = write_keras_vgg16_file(path, model)
    family = model_info(preset)["backbone"].imagenet_family
    assert family == "vgg16"   # what --init=imagenet reads for these backbones
    done = load_imagenet_weights(model, family, path, log=lambda s: None)
    convs = [f"vgg_16.conv{b}.conv{b}_{i}" for b, n in {1: 2, 2: 2, 3: 3, 4: 3, 5: 3}.items()
             for i in range(1, n + 1)]
    if preset == "segnet_vgg16":
        assert sorted(done) == sorted(convs) and "fc1" not in source
        np.testing.assert_array_equal(model.get_layer("vgg_16.conv3.conv3_1").kernel.numpy(),
                                      source["block3_conv1"][0])
        return
    assert sorted(done) == sorted(convs + ["fc6", "fc7"])
    kernel, bias = source["fc1"]
    np.testing.assert_array_equal(model.get_layer("fc6").kernel.numpy(),
                                  kernel.reshape(7, 7, -1, kernel.shape[-1]))
    np.testing.assert_array_equal(model.get_layer("fc7").kernel.numpy()[0, 0],
                                  source["fc2"][0])


def test_a_file_of_another_network_is_refused_before_anything_is_assigned(tmp_path):
    model = deeplab_tf.build_model("deeplabv1_vgg16_largefov", num_classes=3,
                                   width_multiplier=0.125)
    path = str(tmp_path / "vgg16.h5")
    write_keras_vgg16_file(path, deeplab_tf.build_model("deeplabv1_vgg16_largefov",
                                                        num_classes=3, width_multiplier=0.25))
    before = [w.copy() for w in model.get_weights()]
    with pytest.raises(ImageNetWeightsError, match="does not fit model"):
        load_imagenet_weights(model, "vgg16", path, log=lambda s: None)
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ImageNetWeightsError, match="not a Keras mobilenetv2 weight file"):
        load_imagenet_weights(model, "mobilenetv2", path, log=lambda s: None)

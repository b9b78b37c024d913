"""The official name map and TF1 checkpoints: round trips through official variable names for
every model zoo family, and strict all-or-nothing loading."""
import tarfile

import keras
import numpy as np
import pytest
import tensorflow as tf

import deeplab_tf
from deeplab_tf.convert import convert
from deeplab_tf.weights.checkpoint_reader import read_checkpoint, write_checkpoint
from deeplab_tf.weights.official import (OfficialWeights, OfficialWeightsError,
                                         load_official_weights, official_tensors)
from tests.weights.conftest import load_rgb

TINY = dict(num_classes=3, width_multiplier=0.125)


def _tiny(preset, seed=0, **overrides):
    keras.utils.set_random_seed(seed)
    model = deeplab_tf.build_model(preset, **{**TINY, **overrides})
    rng = np.random.default_rng(seed)
    for layer in model.layers:  # non-trivial BatchNorm statistics, so the map is tested
        if isinstance(layer, keras.layers.BatchNormalization):
            for variable in layer.weights:
                variable.assign(rng.uniform(0.5, 1.5, variable.shape).astype(np.float32))
    return model


def _images(size=33):
    return np.random.default_rng(1).uniform(0, 255, (1, size, size, 3)).astype(np.float32)


def test_float_file_through_an_official_checkpoint_gives_identical_outputs(tmp_path,
                                                                            converted_float):
    model = converted_float[0]
    prefix = write_checkpoint(official_tensors(model), tmp_path / "ckpt" / "model.ckpt")
    names = tf.train.load_checkpoint(prefix).get_variable_to_shape_map()
    assert names["MobilenetV2/expanded_conv_3/depthwise/depthwise_weights"] == [3, 3, 72, 1]
    assert names["aspp0/BatchNorm/gamma"] == [256]
    assert names["logits/semantic/biases"] == [21]
    # Packed like a model zoo tarball: <name>/model.ckpt.{index,data-*} inside a .tar.gz.
    archive = tmp_path / "deeplabv3_mnv2_dm05_test.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(tmp_path / "ckpt", arcname="deeplabv3_mnv2_dm05_test")
    restored, arch, _ = convert("official_checkpoint", archive, output_stride=8)
    assert (arch.preset, arch.depth_multiplier, arch.num_classes) == (
        "deeplabv3_mobilenetv2_dm05", 0.5, 21)
    assert arch.output_stride is None  # a checkpoint does not say; the flag did
    image = load_rgb("segmentation_input_rotation0.jpg")[None].astype(np.float32)
    np.testing.assert_array_equal(restored(image, training=False), model(image, training=False))


@pytest.mark.parametrize("preset, expected_name", [
    ("deeplabv3_mobilenetv2", "MobilenetV2/expanded_conv_16/project/BatchNorm/moving_variance"),
    ("deeplabv3plus_xception65", "xception_65/entry_flow/block1/unit_1/xception_module/"
                                 "separable_conv1_depthwise/depthwise_weights"),
    ("deeplabv3_resnet101", "resnet_v1_101/block3/unit_23/bottleneck_v1/conv2/weights"),
])
def test_model_zoo_families_round_trip_through_official_names(tmp_path, preset, expected_name):
    source = _tiny(preset, seed=0)
    tensors = official_tensors(source)
    assert expected_name in tensors
    # Zoo checkpoints also carry optimizer slots and a step counter: they are not weights.
    tensors["global_step"] = np.array(1000, np.float32)
    tensors["aspp0/weights/Momentum"] = tensors["aspp0/weights"]
    prefix = write_checkpoint(tensors, tmp_path / "model.ckpt-1000")
    target = _tiny(preset, seed=1)
    load_official_weights(target, read_checkpoint(prefix))
    np.testing.assert_array_equal(target(_images(), training=False),
                                  source(_images(), training=False))


@pytest.fixture(scope="module")
def tiny_pair():
    source = _tiny("deeplabv3_mobilenetv2", seed=0)
    return source, official_tensors(source)


def _expect_error(model, tensors, pattern):
    before = [np.array(v) for v in model.weights]
    with pytest.raises(OfficialWeightsError, match=pattern):
        load_official_weights(model, OfficialWeights(tensors, folded=False,
                                                     info={"source": "test.ckpt"}))
    for old, new in zip(before, model.weights):  # all or nothing: nothing was assigned
        np.testing.assert_array_equal(old, np.array(new))


def test_missing_tensor_is_listed(tiny_pair):
    source, tensors = tiny_pair
    tensors = {k: v for k, v in tensors.items() if k != "aspp0/weights"}
    _expect_error(_tiny("deeplabv3_mobilenetv2", seed=2), tensors,
                  r"test.ckpt does not fit .*missing from the file \(1\): "
                  r"aspp0/weights \[1, 1, 40, 32\]")


def test_extra_tensor_is_listed(tiny_pair):
    _, tensors = tiny_pair
    tensors = {**tensors, "decoder/feature_projection0/weights": np.zeros((1, 1, 3, 48))}
    _expect_error(_tiny("deeplabv3_mobilenetv2", seed=2), tensors,
                  r"extra in the file \(1\): decoder/feature_projection0/weights")


def test_mis_shaped_tensor_is_listed(tiny_pair):
    _, tensors = tiny_pair
    tensors = {**tensors, "logits/semantic/weights": np.zeros((1, 1, 32, 5), np.float32)}
    _expect_error(_tiny("deeplabv3_mobilenetv2", seed=2), tensors,
                  r"mis-shaped \(1\): logits/semantic/weights: file \[1, 1, 32, 5\], "
                  r"model \[1, 1, 32, 3\]")


def test_official_file_into_the_wrong_preset_lists_everything(converted_float):
    from deeplab_tf.weights.tflite_reader import read_tflite
    from tests.weights.conftest import FLOAT_FILE, official
    weights = read_tflite(official(FLOAT_FILE))
    model = deeplab_tf.build_model("deeplabv3plus_mobilenetv2", num_classes=21)
    with pytest.raises(OfficialWeightsError) as error:
        load_official_weights(model, weights)
    message = str(error.value)
    assert "deeplabv3_257_mv_gpu.tflite does not fit" in message
    assert "missing from the file" in message and "decoder/" in message
    assert "mis-shaped" in message and "MobilenetV2/Conv/weights: file [3, 3, 3, 16]" in message


def test_unreadable_checkpoint_is_a_clear_error(tmp_path):
    with pytest.raises(OfficialWeightsError, match="no TF checkpoint"):
        read_checkpoint(tmp_path)
    with pytest.raises(OfficialWeightsError, match="nothing.ckpt is not a readable TF checkpoint"):
        read_checkpoint(tmp_path / "nothing.ckpt")


def test_scoped_load_starts_a_new_class_count_from_the_official_weights(converted_float):
    """Fine-tuning official weights on 3 classes: everything but logits/semantic loads."""
    from deeplab_tf.weights.tflite_reader import read_tflite
    from tests.weights.conftest import FLOAT_FILE, official
    weights = read_tflite(official(FLOAT_FILE))
    model = deeplab_tf.build_model("deeplabv3_mobilenetv2_dm05", num_classes=3)
    logits_before = np.array(model.get_layer("logits.semantic").kernel)
    with pytest.raises(OfficialWeightsError, match="mis-shaped .*logits/semantic/weights"):
        load_official_weights(model, weights)
    load_official_weights(model, weights, scopes=["MobilenetV2", "image_pooling", "aspp0",
                                                  "concat_projection"])
    np.testing.assert_array_equal(model.get_layer("logits.semantic").kernel, logits_before)
    source = converted_float[0]
    for name in ("MobilenetV2.Conv", "concat_projection.BatchNorm"):
        for new, old in zip(model.get_layer(name).weights, source.get_layer(name).weights):
            np.testing.assert_array_equal(np.array(new), np.array(old))


def test_backbone_facts_come_from_the_backbone_specs():
    """The readers' scope tables are the BackboneSpecs' facts: one family and classifier per
    official scope root, every named ImageNet checkpoint downloadable, and each built model's
    layers under its spec's scope root."""
    from deeplab_tf.models.backbones import BACKBONES
    from deeplab_tf.weights import official
    from deeplab_tf.weights.download import OFFICIAL_FILES
    from deeplab_tf.weights.imagenet import KERAS_FILES
    assert official.BACKBONE_SCOPES == {"MobilenetV2": "mobilenetv2", "xception_65": "xception65",
                                        "resnet_v1_50": "resnet50", "resnet_v1_101": "resnet101"}
    assert official.CLASSIFIER_SCOPES["MobilenetV2"] == ("Logits", "Conv_1")
    for spec in BACKBONES.values():
        if spec.official_family:
            assert official.BACKBONE_SCOPES[spec.official_scope] == spec.official_family
            assert official.CLASSIFIER_SCOPES[spec.official_scope] == spec.classifier_scopes
        assert not spec.imagenet_checkpoint or spec.imagenet_checkpoint in OFFICIAL_FILES
    assert sorted(KERAS_FILES) == ["mobilenetv2", "vgg16"]
    model = _tiny("deeplabv3plus_mobilenetv2")
    roots = {layer.name.split(".")[0] for layer in official.weighted_layers(model)}
    assert BACKBONES["mobilenetv2"].official_scope in roots

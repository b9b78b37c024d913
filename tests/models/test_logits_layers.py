"""The head owns its last layer: model_info's logits_layers are exactly the layers whose weights
depend on num_classes in every preset, and the last-layer gradient multiplier reaches exactly
their variables (no guess by layer type or width)."""
import keras
import numpy as np
import pytest
import tensorflow as tf

import deeplab_tf
from deeplab_tf.config import TrainConfig
from deeplab_tf.models import deeplab_v3
from deeplab_tf.models.builder import build_model, model_info
from deeplab_tf.training.optimization import all_layers, build_optimizer, gradient_multipliers
from deeplab_tf.training.step import make_train_step
from tests.models.tiny import tiny_overrides

# The v2 head's four ASPP-L branch classifiers, on the VGG-16 backbone: the head (and its
# logits layer names) is the same for ResNet-101, whose 101 layers trace 4x slower.
V2 = "deeplabv2_vgg16_aspp_l"
V2_RESNET = "deeplabv2_resnet101_aspp_l"


def _build(preset, num_classes, **extra):
    return build_model(preset, num_classes=num_classes, **{**tiny_overrides(preset), **extra})


def _own_layers(model):
    return [layer for layer in all_layers(model) if not isinstance(layer, keras.Model)]


def _weight_shapes(model):
    return {layer.name: [tuple(w.shape) for w in layer.weights] for layer in _own_layers(model)
            if layer.weights}


def _variable_ids(layers):
    return {id(v) for layer in layers for v in layer.trainable_variables}


@pytest.mark.parametrize("preset", deeplab_tf.list_presets())
def test_logits_layers_are_exactly_the_layers_that_change_with_num_classes(preset):
    three, five = _build(preset, 3), _build(preset, 5)
    shapes3, shapes5 = _weight_shapes(three), _weight_shapes(five)
    assert shapes3.keys() == shapes5.keys()
    changed = {name for name in shapes3 if shapes3[name] != shapes5[name]}
    names = model_info(preset, num_classes=3, **tiny_overrides(preset))["logits_layers"]
    assert len(names) == len(set(names))
    assert set(names) == changed
    for model, n in ((three, 3), (five, 5)):
        for name in names:
            assert model.get_layer(name).kernel.shape[-1] == n, name
    # The multiplier map holds the variables of the changing layers and of nothing else.
    by_name = {layer.name: layer for layer in _own_layers(three)}
    selected = gradient_multipliers(three, names, 10.0)
    assert set(selected) == _variable_ids([by_name[name] for name in changed])
    assert set(selected.values()) == {10.0}


def test_v2_lists_one_class_layer_per_branch_in_both_forms():
    assert model_info(V2_RESNET)["logits_layers"] == [
        "logits.semantic", "logits.semantic_1", "logits.semantic_2", "logits.semantic_3"]
    assert model_info("deeplabv2_vgg16_aspp_l")["logits_layers"] == [
        "fc8_1", "fc8_2", "fc8_3", "fc8_4"]
    # The list follows overrides: it is the head's, not a per-preset constant.
    assert model_info(V2_RESNET, atrous_rates=(6, 12))["logits_layers"] == [
        "logits.semantic", "logits.semantic_1"]
    assert model_info("deeplabv1_vgg16_largefov")["logits_layers"] == ["fc8"]


def test_a_conv_as_wide_as_num_classes_is_not_a_last_layer():
    # aspp_depth 256 at 1/8 width: image_pooling, aspp0 and concat_projection have 32 filters.
    model = _build("deeplabv3_mobilenetv2", 32)
    assert model.get_layer("aspp0").filters == 32
    names = model_info("deeplabv3_mobilenetv2", num_classes=32,
                       **tiny_overrides("deeplabv3_mobilenetv2"))["logits_layers"]
    assert set(gradient_multipliers(model, names, 10.0)) == _variable_ids(
        [model.get_layer("logits.semantic")])


def test_gradient_multipliers_fail_loudly_on_missing_or_absent_names():
    model = _build("deeplabv3_mobilenetv2", 3)
    with pytest.raises(ValueError, match=r"\['fc8'\] are not in model"):
        gradient_multipliers(model, ["fc8"], 10.0)
    with pytest.raises(ValueError, match=r"\['fc8'\] are not in model"):
        gradient_multipliers(model, ["fc8"], 1.0)   # a wrong list is wrong at any multiplier
    with pytest.raises(ValueError, match="needs the names of the logits layers"):
        gradient_multipliers(model, [], 10.0)
    assert gradient_multipliers(model, [], 1.0) == {}


def test_build_model_rejects_a_head_that_disagrees_with_model_info(monkeypatch):
    monkeypatch.setattr(deeplab_v3, "logits_layer_names", lambda config: ["logits.other"])
    with pytest.raises(RuntimeError, match=r"internal error.*\['logits.semantic'\].*"
                                           r"logits_layers=\['logits.other'\]"):
        _build("deeplabv3_mobilenetv2", 3)


def _one_step(initial, multiplier):
    """One SGD-momentum step of the tiny v2 ResNet from `initial` on a fixed synthetic batch;
    returns ({variable path: value} before, after, the logits layer names)."""
    keras.utils.set_random_seed(1)   # the same dropout masks in both runs (VGG's fc6/fc7)
    model = _build(V2, 3)
    model.set_weights(initial)
    names = model_info(V2, num_classes=3, **tiny_overrides(V2))["logits_layers"]
    config = TrainConfig(train_steps=10, base_learning_rate=0.01,
                         last_layer_gradient_multiplier=multiplier)
    optimizer = build_optimizer(config)
    optimizer.build(model.trainable_variables)
    step = make_train_step(model, optimizer, config, tf.distribute.get_strategy(),
                           num_classes=3, logits_layers=names)
    rng = np.random.RandomState(0)
    batch = {"image": rng.uniform(0, 255, [2, 33, 33, 3]).astype("float32"),
             "label": rng.randint(0, 3, [2, 33, 33]).astype("int32")}
    before = {v.path: v.numpy() for v in model.trainable_variables}
    step(iter(tf.data.Dataset.from_tensors(batch).repeat()))
    return before, {v.path: v.numpy() for v in model.trainable_variables}, names


def test_v2_multiplier_changes_exactly_the_four_branch_updates():
    keras.utils.set_random_seed(0)
    initial = _build(V2, 3).get_weights()
    start, plain, names = _one_step(initial, 1.0)
    _, boosted, _ = _one_step(initial, 10.0)
    assert plain.keys() == boosted.keys() == start.keys()
    # Keras variable paths are "<layer name>/<weight>"; the layer names hold no "/".
    logits_paths = {p for p in plain if p.split("/")[0] in names}
    assert {p.split("/")[0] for p in logits_paths} == set(names)
    for path in plain:
        if path in logits_paths:
            # SGD + momentum from zero slots: the first update is -lr * multiplier * gradient.
            np.testing.assert_allclose(boosted[path] - start[path],
                                       10.0 * (plain[path] - start[path]), rtol=1e-4,
                                       atol=1e-7, err_msg=path)
            assert not np.array_equal(plain[path], boosted[path]), path
        else:
            np.testing.assert_array_equal(plain[path], boosted[path], err_msg=path)

"""FCN, SegNet and the dilated front-end as presets (issue 17): shapes on odd and even sizes,
the alignment and initialisations the papers specify, parameter counts at full width (built,
never run), .keras round trips and TFLite parity at tiny width."""
import keras
import numpy as np
import pytest
import tensorflow as tf

import deeplab_tf
from deeplab_tf import export
from deeplab_tf.models import dilation, fcn
from deeplab_tf.models.summary import count
from tests.export.conftest import random_images, run_tflite

TINY = {"width_multiplier": 0.125}
BASELINES = [("fcn32s_vgg16", {}), ("fcn16s_vgg16", {}), ("fcn8s_vgg16", {}),
             ("segnet_vgg16", {}), ("dilation8_vgg16", {"context_module": True})]


def _tiny(preset, num_classes=3, **extra):
    return deeplab_tf.build_model(preset, num_classes=num_classes, **{**TINY, **extra})


def _randomize(model, seed=0):
    """He-scaled random conv weights (FCN's zero score layers would make every output equal),
    BatchNorm statistics away from the identity; the bilinear upsamplings stay."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, keras.layers.Conv2DTranspose) or not layer.weights:
            continue
        if isinstance(layer, keras.layers.BatchNormalization):
            values = [rng.uniform(0.5, 1.5, w.shape) for w in layer.get_weights()]
        elif layer.name.startswith("ctx_"):   # identity + noise: random ones mostly die
            values = [w + rng.normal(0, 0.1, w.shape) for w in layer.get_weights()]
        else:
            kernel, *bias = layer.get_weights()
            values = [rng.normal(0, np.sqrt(2.0 / np.prod(kernel.shape[:3])), kernel.shape)]
            values += [rng.normal(0, 0.1, b.shape) for b in bias]
        layer.set_weights([v.astype("float32") for v in values])
    return model


@pytest.mark.parametrize("preset,extra", BASELINES, ids=[p for p, _ in BASELINES])
def test_logits_at_input_size_on_odd_and_even_inputs(preset, extra):
    model = _tiny(preset, **extra)
    for size in [(33, 47), (64, 64)]:
        logits = model(random_images((1, *size, 3), seed=size[0]).astype("float32"))
        assert tuple(logits.shape) == (1, *size, 3)
        assert np.all(np.isfinite(logits.numpy()))


def test_fixed_output_strides_are_refused_with_the_allowed_one():
    with pytest.raises(ValueError, match=r"output_stride=8 cannot be reached.*\(32,\)"):
        deeplab_tf.build_model("fcn8s_vgg16", output_stride=8)
    with pytest.raises(ValueError, match=r"output_stride=16 cannot be reached.*\(8,\)"):
        deeplab_tf.build_model("dilation8_vgg16", output_stride=16)
    with pytest.raises(ValueError, match=r"skips=\('pool3',\)"):
        deeplab_tf.build_model("fcn8s_vgg16", skips=("pool3",), skip_scales=(1.0,))


@pytest.mark.parametrize("factor", [2, 8])
def test_fcn_upsampling_is_half_pixel_bilinear_away_from_the_border(factor):
    # The alignment the FCN module docstring derives: a same-padded transposed conv with the
    # bilinear kernel samples its input at (o - (f - 1) / 2) / f, i.e. half-pixel centres.
    x = np.random.default_rng(factor).normal(size=(1, 6, 7, 2)).astype("float32")
    layer = fcn._upsampling(2, factor, "up")
    out = layer(x).numpy()
    expected = tf.image.resize(x, (6 * factor, 7 * factor), "bilinear").numpy()
    inner = slice(factor, -factor)
    np.testing.assert_allclose(out[:, inner, inner], expected[:, inner, inner], atol=1e-5)
    assert layer.kernel.shape == (2 * factor, 2 * factor, 2, 2)
    assert not layer.kernel.numpy()[:, :, 0, 1].any()   # channels do not mix


def test_fcn_starts_as_the_paper_says():
    model = _tiny("fcn8s_vgg16")
    for name in ("score_fr", "score_pool4", "score_pool3"):
        assert not model.get_layer(name).kernel.numpy().any(), name   # zero class scores
    assert model.get_layer("upscore2").trainable and model.get_layer("upscore_pool4").trainable
    assert not model.get_layer("upscore8").trainable   # the final upsampling is fixed
    assert model.get_layer("scale_pool4").scale == 0.01
    assert model.get_layer("scale_pool3").scale == 0.0001
    assert model.get_layer("fc6").kernel_size == (7, 7)


def test_context_module_starts_as_the_identity():
    x = keras.Input((None, None, 4))
    module = keras.Model(x, dilation.add_context_module(x))
    rates = [module.get_layer(n).dilation_rate[0] for n in dilation.context_names()[:-1]]
    assert rates == [1, 1, 2, 4, 8, 16, 1]   # Yu & Koltun Table 1
    values = np.random.default_rng(0).uniform(0, 3, (1, 20, 21, 4)).astype("float32")
    np.testing.assert_allclose(module(values).numpy(), values, atol=1e-6)


def _vgg16_conv_params():
    channels = [3, 64, 64, 128, 128, 256, 256, 256, 512, 512, 512, 512, 512, 512]
    return sum(9 * a * b + b for a, b in zip(channels, channels[1:]))   # 14,714,688


def test_parameter_counts_at_full_width_without_running():
    # Built, not run: the counts read the variables only.
    fcn8s = deeplab_tf.build_model("fcn8s_vgg16").count_params()
    assert abs(fcn8s / 134.27e6 - 1) < 0.03   # FCN paper Table 1: 134M (issue: 134.27M)
    assert fcn8s == deeplab_tf.preset_info("fcn8s_vgg16")["params"]
    keras.backend.clear_session()
    segnet = deeplab_tf.build_model("segnet_vgg16").count_params()
    assert abs(segnet / 29.46e6 - 1) < 0.03   # SegNet TPAMI Table 6: 29.46M
    assert segnet == deeplab_tf.preset_info("segnet_vgg16")["params"]
    keras.backend.clear_session()
    # Dilation front-end, derived: VGG-16 convs + fc6 7x7x512x4096 + fc7 4096x4096 + 1x1 to
    # 21; basic context module (Table 1): 7 x (3x3x21x21 + 21) + (21x21 + 21).
    front_end = (_vgg16_conv_params() + 7 * 7 * 512 * 4096 + 4096 + 4096 * 4096 + 4096
                 + 4096 * 21 + 21)
    context = 7 * (9 * 21 * 21 + 21) + 21 * 21 + 21
    assert front_end == 134_346_581 and context == 28_392
    assert front_end == deeplab_tf.preset_info("dilation8_vgg16")["params"]   # recorded
    model = deeplab_tf.build_model("dilation8_vgg16", context_module=True)
    assert sum(model.get_layer(n).count_params() for n in dilation.context_names()) == context
    assert model.count_params() == front_end + context
    keras.backend.clear_session()


def test_transposed_convs_count_their_multiply_adds():
    images = keras.Input((9, 10, 3), batch_size=1)
    up = fcn._upsampling(3, 2, "up")(images)
    counts = count(keras.Model(images, up))
    assert counts["multiply_adds"] == 9 * 10 * 3 * 4 * 4 * 3   # per input: k*k*Cout, x Cin


def _moderate_fcn_scores(model, image):
    """FCN's logits are linear in its score layers (the upsamplings are linear): scale them so
    the random logits have std ~2, and shift score_pool3's bias so that no class wins by a
    constant offset (positive ReLU features times random weights give each class one)."""
    logits = model(image).numpy()
    factor = 2.0 / logits.std()
    for name in ("score_fr", "score_pool4", "score_pool3"):
        layer = model.get_layer(name)
        layer.set_weights([w * factor for w in layer.get_weights()])
    layer = model.get_layer("score_pool3")
    kernel, bias = layer.get_weights()
    layer.set_weights([kernel, bias - factor * logits.mean(axis=(0, 1, 2))])


# FCN-8s without the at-once skip scales here, so that the skips shape the random logits.
@pytest.mark.parametrize("preset,extra", [
    ("fcn8s_vgg16", {"skip_scales": (1.0, 1.0)}), BASELINES[3], BASELINES[4]],
    ids=["fcn8s", "segnet", "dilation8_context"])
def test_keras_file_round_trip_and_tflite_parity(preset, extra, tmp_path):
    model = _randomize(_tiny(preset, **extra))
    image = random_images((1, 33, 47, 3), seed=3)
    if preset.startswith("fcn"):
        _moderate_fcn_scores(model, image.astype("float32"))
    expected = model(image.astype("float32")).numpy()
    assert len(np.unique(expected.argmax(-1))) > 1   # a parity check on varied logits
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, compile=False)
    np.testing.assert_allclose(loaded(image.astype("float32")).numpy(), expected, atol=1e-5)
    outputs, _, _ = run_tflite(export.convert_to_tflite(loaded, input_size=(33, 47)), image)
    probabilities = tf.nn.softmax(expected).numpy()
    assert np.abs(outputs["probabilities"] - probabilities).max() < 1e-3
    assert (outputs["probabilities"].argmax(-1) == expected.argmax(-1)).mean() > 0.99

"""inference.py: padding to OS*k+1, crop back, multi-scale + flip averaging, .keras / SavedModel /
.tflite backends (real files, real LiteRT interpreter), official TFLite reference outputs."""
import numpy as np
import pytest
from PIL import Image

from deeplab_tf import inference
from tests.conftest import shared_path


def tiny_model(num_classes=3, seed=0):
    """A tiny fully convolutional net with the build_model contract (0..255 in, logits out at
    input size, align-corners upsampling), independent of the model builders."""
    import keras
    from deeplab_tf.models.layers import Preprocess, ResizeBilinear
    keras.utils.set_random_seed(seed)
    images = keras.Input((None, None, 3))
    x = Preprocess("minus_one_to_one")(images)
    x = keras.layers.Conv2D(8, 3, strides=2, padding="same", activation="relu")(x)
    x = keras.layers.Conv2D(num_classes, 3, padding="same")(x)
    x = ResizeBilinear()([x, images])
    return keras.Model(images, x, name="tiny")


@pytest.fixture(scope="module")
def keras_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("m") / "tiny.keras"
    tiny_model().save(path)
    return path


def _images(seed=0):
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (30, 25, 3)).astype(np.uint8),
            rng.integers(0, 256, (21, 40, 3)).astype(np.uint8)]


def _softmax(x):
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def test_padding_to_os_k_plus_1_with_mean_pixel_then_crop_back(keras_file):
    pred = inference.load_predictor(keras_file)
    assert pred.kind == "keras" and pred.num_classes == 3 and pred.mean_pixel == (127.5,) * 3
    assert inference.padded_size(30, 25, 16) == (33, 33)
    assert inference.padded_size(33, 17, 8) == (33, 17)
    image = _images()[0]
    padded = np.full((1, 33, 33, 3), 127.5, np.float32)
    padded[0, :30, :25] = image
    expected = _softmax(pred.model(padded).numpy()[0, :30, :25])
    got = inference.predict_probabilities(pred, [image])[0]
    assert got.shape == (30, 25, 3)
    np.testing.assert_allclose(got, expected, atol=1e-5)
    np.testing.assert_array_equal(inference.predict_labels(pred, [image])[0], expected.argmax(-1))


def test_batching_matches_one_by_one_at_a_fixed_crop(keras_file):
    pred = inference.load_predictor(keras_file)
    images = _images()
    batched = inference.predict_probabilities(pred, images, batch_size=2, crop_size=(49, 49))
    for image, b in zip(images, batched):
        single = inference.predict_probabilities(pred, [image], batch_size=1, crop_size=(49, 49))
        assert b.shape == image.shape[:2] + (3,)
        np.testing.assert_allclose(b, single[0], atol=1e-5)


def test_flip_and_multi_scale_average_probabilities(keras_file):
    pred = inference.load_predictor(keras_file)
    image = _images()[0]
    plain = inference.predict_probabilities(pred, [image])[0]
    mirrored = inference.predict_probabilities(pred, [image[:, ::-1]])[0][:, ::-1]
    flipped = inference.predict_probabilities(pred, [image], add_flipped_images=True)[0]
    np.testing.assert_allclose(flipped, (plain + mirrored) / 2, atol=1e-5)
    half = inference.predict_probabilities(pred, [image], eval_scales=(0.5,))[0]
    assert half.shape == plain.shape and not np.allclose(half, plain, atol=1e-3)
    both = inference.predict_probabilities(pred, [image], eval_scales=(0.5, 1.0))[0]
    np.testing.assert_allclose(both, (half + plain) / 2, atol=1e-5)
    np.testing.assert_allclose(both.sum(-1), 1.0, atol=1e-5)
    # scale_dimension: int((d - 1) * s + 1), the official rule.
    assert inference.scale_dimension(30, 0.5) == 15 and inference.scale_dimension(513, 0.5) == 257


def _save_servable(model, path):
    """A SavedModel with the deeplab_tf.export serving_default contract (uint8 images ->
    probabilities, labels), written here so this test does not depend on export.py."""
    import tensorflow as tf

    class Servable(tf.Module):
        def __init__(self):
            super().__init__()
            self.model = model

        @tf.function(input_signature=[tf.TensorSpec([None, None, None, 3], tf.uint8,
                                                    name="images")])
        def serve(self, images):
            logits = self.model(tf.cast(images, tf.float32), training=False)
            return {"probabilities": tf.nn.softmax(logits),
                    "labels": tf.argmax(logits, -1, output_type=tf.int32)}

    module = Servable()
    tf.saved_model.save(module, str(path), signatures={"serving_default": module.serve})


def test_saved_model_agrees_with_keras(keras_file, tmp_path):
    keras_pred = inference.load_predictor(keras_file, mean_pixel=(128, 128, 128))
    _save_servable(keras_pred.model, tmp_path / "sm")
    sm = inference.load_predictor(tmp_path / "sm", mean_pixel=(128, 128, 128))
    assert sm.kind == "saved_model" and sm.output == "probabilities" and sm.num_classes == 3
    with pytest.raises(ValueError, match=r"has no 'nope' signature \(signatures: \['serving"):
        inference.load_predictor(tmp_path / "sm", signature="nope")
    images = _images()
    for a, b in zip(inference.predict_probabilities(keras_pred, images, add_flipped_images=True),
                    inference.predict_probabilities(sm, images, add_flipped_images=True)):
        np.testing.assert_allclose(a, b, atol=1e-5)


def _tflite(model, path, size=(33, 33), argmax=False):
    """A fixed-size .tflite of `model` (weights frozen), optionally with ArgMax inside."""
    import keras
    import tensorflow as tf
    images = keras.Input((*size, 3), batch_size=1)
    out = model(images)
    if argmax:
        out = keras.layers.Lambda(lambda t: tf.argmax(t, axis=-1))(out)
    path.write_bytes(tf.lite.TFLiteConverter.from_keras_model(keras.Model(images, out)).convert())
    return path


def test_tflite_fixed_size_padding_and_argmax_file(keras_file, tmp_path):
    keras_pred = inference.load_predictor(keras_file)
    lite = inference.load_predictor(_tflite(keras_pred.model, tmp_path / "m.tflite"))
    assert lite.kind == "tflite" and lite.fixed_size == (33, 33) and lite.output == "logits"
    images = _images()  # 30x25 padded into 33x33; 21x40 is too wide: scaled down to fit
    ref = inference.predict_probabilities(keras_pred, images[:1], crop_size=(33, 33))
    got = inference.predict_probabilities(lite, images)
    np.testing.assert_allclose(got[0], ref[0], atol=1e-4)
    assert got[1].shape == (21, 40, 3)
    labels_only = inference.load_predictor(
        _tflite(keras_pred.model, tmp_path / "argmax.tflite", argmax=True))
    assert labels_only.output == "labels"
    labels = inference.predict_labels(labels_only, images)
    np.testing.assert_array_equal(labels[0], ref[0].argmax(-1))
    assert labels[1].shape == (21, 40)
    with pytest.raises(ValueError, match=r"argmax\.tflite outputs class labels only"):
        inference.predict_probabilities(labels_only, images)
    with pytest.raises(ValueError, match="multi-scale and flipped evaluation need"):
        inference.predict_labels(labels_only, images, add_flipped_images=True)


def test_bad_model_paths(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"model .*nope\.keras does not exist"):
        inference.load_predictor(tmp_path / "nope.keras")
    (tmp_path / "weights.bin").write_bytes(b"x")
    with pytest.raises(ValueError, match="neither a .keras file"):
        inference.load_predictor(tmp_path / "weights.bin")


def test_damaged_model_files_are_named(tmp_path, keras_file):
    text = tmp_path / "notes.keras"
    text.write_text("a text file with the wrong name")
    with pytest.raises(ValueError, match=r"notes\.keras is not a \.keras file"):
        inference.load_predictor(text)
    cut = tmp_path / "cut.keras"
    data = open(keras_file, "rb").read()
    cut.write_bytes(data[:len(data) // 2])
    with pytest.raises(ValueError, match=r"cut\.keras is not a"):
        inference.load_predictor(cut)
    lite = tmp_path / "cut.tflite"
    lite.write_bytes(open(shared_path("official", "deeplabv3_257_mv_gpu.tflite"), "rb")
                     .read()[:5000])
    with pytest.raises(ValueError, match=r"cut\.tflite is not a readable \.tflite file"):
        inference.load_predictor(lite)


def test_official_float_tflite_reproduces_googles_golden_mask():
    folder = shared_path("official")
    pred = inference.load_predictor(folder / "deeplabv3_257_mv_gpu.tflite")
    image = np.array(Image.open(folder / "segmentation_input_rotation0.jpg").convert("RGB"))
    golden = np.array(Image.open(folder / "segmentation_golden_rotation0.png")) // 10
    labels = inference.predict_labels(pred, [image])[0]
    assert (labels != golden).sum() == 0


def test_official_int8_tflite_labels_on_corals_bird():
    folder = shared_path("official")
    pred = inference.load_predictor(folder / "deeplabv3_mnv2_pascal_quant.tflite")
    assert pred.output == "labels" and pred.fixed_size == (513, 513)
    image = np.array(Image.open(folder / "bird_segmentation.bmp").convert("RGB"))
    expected = np.array(Image.open(folder / "bird_segmentation_mask.bmp"))
    labels = inference.predict_labels(pred, [image])[0]
    assert (labels == expected).mean() > 0.975   # SOURCES.md: 97.9% agreement


def test_keras_model_with_a_fixed_input_size_is_padded_to_it():
    import keras
    model = tiny_model()
    images = keras.Input((33, 33, 3))
    fixed = keras.Model(images, model(images))
    pred = inference.predictor_from_keras(fixed)
    assert pred.fixed_size == (33, 33)
    image = _images()[0]   # 30x25 -> padded into 33x33
    np.testing.assert_allclose(
        inference.predict_probabilities(pred, [image])[0],
        inference.predict_probabilities(inference.predictor_from_keras(model), [image],
                                        crop_size=(33, 33))[0], atol=1e-5)


def test_results_do_not_depend_on_batching_even_with_image_pooling():
    import keras
    from deeplab_tf.models.layers import ResizeBilinear
    keras.utils.set_random_seed(1)
    images_in = keras.Input((None, None, 3))
    x = keras.layers.Conv2D(4, 3, strides=2, padding="same")(images_in / 127.5 - 1)
    pooled = keras.layers.GlobalAveragePooling2D(keepdims=True)(x)   # sees the padding
    x = keras.layers.Conv2D(3, 1)(x + pooled)
    pred = inference.predictor_from_keras(
        keras.Model(images_in, ResizeBilinear()([x, images_in])))
    rng = np.random.default_rng(5)
    images = [rng.integers(0, 256, s + (3,)).astype(np.uint8)
              for s in ((30, 25), (21, 40), (28, 20))]
    batched = inference.predict_probabilities(pred, images, batch_size=3)
    for image, b in zip(images, batched):
        np.testing.assert_allclose(b, inference.predict_probabilities(pred, [image])[0],
                                   atol=1e-6)

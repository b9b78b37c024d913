"""Export of real build_model presets (tiny widths): SavedModel within 1e-4 and TFLite float
within 1e-3 of Keras (max abs on probabilities), int8 runs with integer kernels."""
import numpy as np
import pytest
import tensorflow as tf

from deeplab_tf import export
from tests.export.conftest import random_images, run_tflite, tiny_preset


# Xception-65 has ~735 variables even at tiny width: saving/loading it takes ~10-30 s.
@pytest.fixture(scope="module", params=[
    "deeplabv3_mobilenetv2",
    pytest.param("deeplabv3plus_xception65", marks=pytest.mark.slow)])
def preset_model(request):
    return tiny_preset(request.param)


def test_saved_model_matches_keras(preset_model, tmp_path):
    path = export.export_saved_model(preset_model, tmp_path / "sm")
    serve = tf.saved_model.load(path).signatures[export.SERVING_KEY]
    for shape in [(2, 49, 49, 3), (1, 40, 57, 3)]:  # OS*k+1 and arbitrary sizes
        images = random_images(shape, seed=shape[1])
        expected = tf.nn.softmax(preset_model(images.astype(np.float32))).numpy()
        out = serve(images=tf.constant(images))
        assert np.abs(out["probabilities"].numpy() - expected).max() < 1e-4
        assert (out["labels"].numpy() == expected.argmax(-1)).mean() > 0.999


def test_tflite_float_matches_keras(preset_model):
    image = random_images((1, 49, 49, 3), seed=5)
    expected = tf.nn.softmax(preset_model(image.astype(np.float32))).numpy()
    outputs, _, _ = run_tflite(export.convert_to_tflite(preset_model, input_size=(49, 49)), image)
    assert np.abs(outputs["probabilities"] - expected).max() < 1e-3

""".keras save/load gives identical outputs; seeded golden outputs (regenerate with
DEEPLAB_TF_REGENERATE_GOLDEN=1)."""
import os
import pathlib

import keras
import numpy as np
import pytest

from tests.models.tiny import build_tiny

GOLDEN_DIR = pathlib.Path(__file__).with_name("golden")
REGENERATE = os.environ.get("DEEPLAB_TF_REGENERATE_GOLDEN") == "1"


def _seed_weights(model, seed=0):
    """Deterministic weights from numpy (independent of Keras' initializer RNG)."""
    rng = np.random.default_rng(seed)
    for w in model.weights:
        shape = tuple(w.shape)
        if "moving_variance" in w.path or "gamma" in w.path:
            value = rng.uniform(0.5, 1.5, shape)
        elif len(shape) == 1:  # biases, BN beta and moving mean: small, so ReLUs stay alive
            value = rng.normal(0.0, 0.1, shape)
        else:
            value = rng.normal(0.0, 1.0 / np.sqrt(np.prod(shape[:-1])), shape)
        w.assign(value.astype("float32"))


def _images(size=33, seed=1):
    return np.random.default_rng(seed).uniform(0, 255, (2, size, size, 3)).astype("float32")


@pytest.mark.parametrize("preset", ["deeplabv3plus_mobilenetv2", "deeplabv2_vgg16_aspp_l"])
def test_keras_save_load_identical(preset, tmp_path):
    model = build_tiny(preset, 16)
    _seed_weights(model)
    images = _images()
    expected = model.predict(images, verbose=0)
    path = tmp_path / f"{preset}.keras"
    model.save(path)
    restored = keras.models.load_model(path)
    assert restored.name == preset
    assert [l.name for l in restored.layers] == [l.name for l in model.layers]
    np.testing.assert_array_equal(restored.predict(images, verbose=0), expected)
    # Another input size after loading (the saved model keeps dynamic H, W).
    assert restored.predict(_images(32), verbose=0).shape == (2, 32, 32, 3)


@pytest.mark.parametrize("preset,output_stride", [
    ("deeplabv1_vgg16_largefov", 8), ("deeplabv3_resnet50", 16),
    ("deeplabv3plus_xception65", 16), ("deeplabv3_mobilenetv2_dm05", 8)])
def test_golden_outputs(preset, output_stride):
    model = build_tiny(preset, output_stride)
    _seed_weights(model)
    logits = model.predict(_images(), verbose=0)
    path = GOLDEN_DIR / f"{preset}_os{output_stride}.npz"
    if REGENERATE:
        GOLDEN_DIR.mkdir(exist_ok=True)
        np.savez_compressed(path, logits=logits.astype("float32"))
    if not path.exists():
        pytest.fail(f"golden file {path} is missing; run with DEEPLAB_TF_REGENERATE_GOLDEN=1")
    golden = np.load(path)["logits"]
    assert np.unique(golden).size > 100  # a golden file of dead (constant) logits tests little
    scale = float(np.abs(golden).max()) or 1.0
    np.testing.assert_allclose(logits, golden, rtol=1e-4, atol=1e-4 * scale)

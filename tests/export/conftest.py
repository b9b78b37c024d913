"""Fixtures for the export tests: a tiny model, exported once per session, and a LiteRT runner."""
import pathlib

import numpy as np
import pytest

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]


def tiny_model(num_classes=3, seed=0):
    """A small DeepLab-shaped model (preprocess, stride-2 conv + BN, 1x1 logits, align-corners
    upsampling back to the input size) that exercises the export machinery in milliseconds."""
    import keras
    from deeplab_tf.models.layers import Preprocess, ResizeBilinear
    keras.utils.set_random_seed(seed)
    images = keras.Input([None, None, 3], name="images")
    x = Preprocess("minus_one_to_one", name="preprocess")(images)
    x = keras.layers.Conv2D(8, 3, strides=2, padding="same", use_bias=False, name="conv")(x)
    x = keras.layers.BatchNormalization(name="conv.BatchNorm")(x)
    x = keras.layers.ReLU()(x)
    # 3*3*8*16 = 1152 weights: over the 1024 below which the converter leaves weights float.
    x = keras.layers.Conv2D(16, 3, padding="same", activation="relu", name="conv2")(x)
    x = keras.layers.Conv2D(num_classes, 1, name="logits")(x)
    x = ResizeBilinear(name="upsample")([x, images])
    model = keras.Model(images, x)
    # Non-trivial BatchNorm statistics, so folding them is actually tested.
    bn = model.get_layer("conv.BatchNorm")
    rng = np.random.default_rng(seed)
    bn.set_weights([rng.uniform(0.5, 1.5, 8), rng.normal(0, 0.2, 8), rng.normal(0, 0.2, 8),
                    rng.uniform(0.5, 2.0, 8)])
    return model


@pytest.fixture(scope="session")
def model():
    return tiny_model()


@pytest.fixture(scope="session")
def saved_model_dir(model, tmp_path_factory):
    from deeplab_tf import export
    path = tmp_path_factory.mktemp("export") / "saved_model"
    export.export_saved_model(model, path, class_names=["background", "cat", "dog"],
                              max_pixels=80 * 80)
    return path


def random_images(shape, seed=0):
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def run_tflite(path_or_bytes, image):
    """Runs a .tflite file (path or bytes) with LiteRT on one image batch [1, H, W, 3]."""
    from ai_edge_litert.interpreter import Interpreter
    if isinstance(path_or_bytes, (bytes, bytearray)):
        interpreter = Interpreter(model_content=bytes(path_or_bytes), num_threads=1)
    else:
        interpreter = Interpreter(model_path=str(path_or_bytes), num_threads=1)
    runner = interpreter.get_signature_runner("serving_default")
    dtype = runner.get_input_details()["images"]["dtype"]
    outputs = runner(images=np.asarray(image).astype(dtype))
    return outputs, runner.get_input_details(), runner.get_output_details()


# Tiny preset models (33..65 px inputs, narrow widths, 3 classes).
TINY_PRESETS = {
    "deeplabv3_mobilenetv2": dict(width_multiplier=0.25, aspp_depth=16),
    "deeplabv3plus_xception65": dict(width_multiplier=0.125, aspp_depth=16, low_level_depth=8,
                                     decoder_depth=16),
}


def tiny_preset(preset, seed=0, size=49):
    """build_model(preset) at tiny widths with BatchNorm statistics fitted to random images.

    Freshly initialised BatchNorm (mean 0, variance 1) lets activations vanish through a deep
    backbone (logits ~1e-11), which would make every parity check trivially pass; one forward
    pass in training mode with momentum 0 sets the moving statistics to real batch statistics.
    """
    import keras
    import deeplab_tf
    keras.utils.set_random_seed(seed)
    model = deeplab_tf.build_model(preset, num_classes=3, **TINY_PRESETS[preset])
    layers = [l for l in model._flatten_layers() if isinstance(l, keras.layers.BatchNormalization)]
    momenta = [l.momentum for l in layers]
    for layer in layers:
        layer.momentum = 0.0
    model(random_images((4, size, size, 3), seed=seed).astype(np.float32), training=True)
    for layer, momentum in zip(layers, momenta):
        layer.momentum = momentum
    return model

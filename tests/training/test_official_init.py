"""--init=official:PATH with the official float TFLite file (../shared/data/official): every
layer but the logits is copied when the number of classes differs."""
import numpy as np

import deeplab_tf
from deeplab_tf.config import ModelConfig
from deeplab_tf.models.builder import model_info
from deeplab_tf.training.initialization import initialize
from tests.conftest import shared_path


def test_official_tflite_initialises_all_but_the_logits():
    path = shared_path("official", "deeplabv3_257_mv_gpu.tflite")
    preset = "deeplabv3_mobilenetv2_dm05"
    model = deeplab_tf.build_model(preset, num_classes=5)
    before = model.get_layer("logits.semantic").get_weights()[0].copy()
    info = model_info(preset, num_classes=5)
    copied = initialize(model, f"official:{path}", info=info,
                        model_config=ModelConfig(preset=preset, num_classes=5),
                        log=lambda s: None)
    weighted = [layer.name for layer in model._flatten_layers(include_self=False)
                if layer.weights]
    assert set(weighted) - set(copied) == {"logits.semantic"}
    np.testing.assert_array_equal(model.get_layer("logits.semantic").get_weights()[0], before)

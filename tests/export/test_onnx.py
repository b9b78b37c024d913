"""ONNX export (deeplab_tf/exporters/onnx.py) run in onnxruntime against Keras, on the model
converted from Google's official float MobileNetV2 file and the real sample photo."""
import numpy as np
import pytest
from PIL import Image

from deeplab_tf import export
from tests.conftest import shared_path


def test_official_mobilenetv2_in_onnxruntime_matches_keras(tmp_path):
    import onnxruntime
    import tensorflow as tf
    import deeplab_tf
    model = deeplab_tf.build_model(weights=str(shared_path("official",
                                                            "deeplabv3_257_mv_gpu.tflite")))
    path = export.export_onnx(model, tmp_path / "deeplab.onnx")
    session = onnxruntime.InferenceSession(path)
    assert [i.name for i in session.get_inputs()] == ["images"]
    assert session.get_inputs()[0].type == "tensor(uint8)"
    photo = np.asarray(Image.open(shared_path("official", "segmentation_input_rotation0.jpg"))
                       .convert("RGB"))
    for image in (photo[None], photo[None, :201, :150]):   # any size, like the SavedModel
        outputs = dict(zip([o.name for o in session.get_outputs()],
                           session.run(None, {"images": image})))
        expected = tf.nn.softmax(model(image.astype(np.float32)), -1).numpy()
        assert np.abs(outputs["probabilities"] - expected).max() < 1e-4
        agreement = (outputs["labels"] == expected.argmax(-1)).mean()
        assert agreement >= 0.999, agreement
    with pytest.raises(FileExistsError, match="already exists"):
        export.export_onnx(model, path)
    with pytest.raises(ValueError, match="input_dtype='int8'"):
        export.export_onnx(model, tmp_path / "other.onnx", input_dtype="int8")

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


def test_dilated_same_convs_get_explicit_pads_that_onnxruntime_runs():
    """The atrous ResNet blocks: tf2onnx writes auto_pad=SAME_UPPER, which onnxruntime refuses
    with dilations; the rewrite must compute TF's "same" dilated convolution."""
    import onnx
    import onnxruntime
    import tensorflow as tf
    from onnx import TensorProto, helper
    from deeplab_tf.exporters.onnx import explicit_atrous_padding
    rng = np.random.default_rng(0)
    kernel = rng.normal(size=(2, 3, 3, 3)).astype(np.float32)          # OIHW
    conv = helper.make_node("Conv", ["x", "w"], ["y"], kernel_shape=[3, 3], dilations=[2, 3],
                            strides=[1, 1], auto_pad="SAME_UPPER")
    graph = helper.make_graph(
        [conv], "atrous", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 9, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2, 9, 8])],
        [helper.make_tensor("w", TensorProto.FLOAT, kernel.shape, kernel.ravel())])
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    with pytest.raises(Exception, match="Dilation not supported"):
        onnxruntime.InferenceSession(proto.SerializeToString()).run(
            None, {"x": np.zeros((1, 3, 9, 8), np.float32)})
    fixed = explicit_atrous_padding(proto)
    onnx.checker.check_model(fixed)
    x = rng.normal(size=(1, 3, 9, 8)).astype(np.float32)
    got = onnxruntime.InferenceSession(fixed.SerializeToString()).run(None, {"x": x})[0]
    expected = tf.nn.conv2d(x.transpose(0, 2, 3, 1), kernel.transpose(2, 3, 1, 0), 1, "SAME",
                            dilations=[2, 3]).numpy().transpose(0, 3, 1, 2)
    np.testing.assert_allclose(got, expected, atol=1e-5)

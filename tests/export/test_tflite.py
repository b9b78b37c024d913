"""TFLite export: parity with Keras under the real LiteRT interpreter, every quantisation mode,
align_corners kept in the flatbuffer, atomic writes and the bad-input errors."""
import numpy as np
import pytest
import tensorflow as tf

from deeplab_tf import export
from tests.export.conftest import random_images, run_tflite

SIZE = (33, 45)


def calibration_images(count=8, seed=100):
    return [random_images(SIZE + (3,), seed=seed + i).astype(np.float32) for i in range(count)]


def keras_logits(model, image):
    return model(np.asarray(image, np.float32)[None], training=False)[0].numpy()


@pytest.fixture(scope="module")
def test_image():
    return random_images((1,) + SIZE + (3,), seed=42)


def test_float_matches_keras(model, tmp_path, test_image):
    path = export.export_tflite(model, tmp_path / "model.tflite", input_size=SIZE)
    outputs, inputs, _ = run_tflite(path, test_image)
    assert inputs["images"]["dtype"] == np.float32
    assert list(inputs["images"]["shape"]) == [1, *SIZE, 3]
    expected = tf.nn.softmax(keras_logits(model, test_image[0])).numpy()
    assert np.abs(outputs["probabilities"][0] - expected).max() < 1e-3


def test_float_file_runs_through_inference(model, tmp_path, test_image):
    from deeplab_tf import inference
    path = export.export_tflite(model, tmp_path / "model.tflite", input_size=SIZE)
    predictor = inference.load_predictor(path, num_threads=1)
    assert predictor.output == inference.PROBABILITIES
    probs, = inference.predict_probabilities(predictor, [test_image[0]])
    expected = tf.nn.softmax(keras_logits(model, test_image[0])).numpy()
    assert np.abs(probs - expected).max() < 1e-3


def test_argmax_inside(model, test_image):
    content = export.convert_to_tflite(model, input_size=SIZE, argmax=True)
    outputs, _, details = run_tflite(content, test_image)
    assert details["labels"]["dtype"] == np.int32
    np.testing.assert_array_equal(outputs["labels"][0],
                                  keras_logits(model, test_image[0]).argmax(-1))


@pytest.mark.parametrize("quantize, weight_type, tolerance", [
    ("none", "FLOAT32", 1e-3), ("fp16", "FLOAT16", 1e-2), ("dynamic", "INT8", 5e-2)])
def test_weight_quantisation_stays_close(model, test_image, quantize, weight_type, tolerance):
    content = export.convert_to_tflite(model, input_size=SIZE, quantize=quantize)
    outputs, _, _ = run_tflite(content, test_image)
    expected = tf.nn.softmax(keras_logits(model, test_image[0])).numpy()
    assert np.abs(outputs["probabilities"][0] - expected).max() < tolerance
    # The conv2 kernel (16x3x3x8 in TFLite layout) is stored in the requested type.
    assert weight_type in _constant_types(content, (16, 3, 3, 8))


def _constant_types(content, shape):
    import tflite
    flat = tflite.Model.GetRootAsModel(content, 0)
    graph = flat.Subgraphs(0)
    names = {v: k for k, v in vars(tflite.TensorType).items() if not k.startswith("_")}
    return {names[graph.Tensors(i).Type()] for i in range(graph.TensorsLength())
            if tuple(graph.Tensors(i).ShapeAsNumpy()) == shape}


@pytest.mark.parametrize("io_dtype", ["float32", "uint8"])
def test_int8_calibrated(model, test_image, io_dtype):
    content = export.convert_to_tflite(model, input_size=SIZE, quantize="int8",
                                       io_dtype=io_dtype, representative_data=calibration_images())
    outputs, inputs, details = run_tflite(content, test_image)
    assert inputs["images"]["dtype"] == np.dtype(io_dtype)
    probabilities = outputs["probabilities"][0].astype(np.float32)
    if io_dtype == "uint8":
        # Raw pixels in (the calibrated 0..255 range maps to scale 1, zero point 0).
        scale, zero = inputs["images"]["quantization"]
        assert abs(scale - 1.0) < 1e-6 and zero == 0
        out_scale, out_zero = details["probabilities"]["quantization"]
        probabilities = (probabilities - out_zero) * out_scale
    expected = tf.nn.softmax(keras_logits(model, test_image[0])).numpy()
    # A 8-channel random model on noise is a hard case for 8 bits; real models: test_official.
    assert np.abs(probabilities - expected).max() < 0.1
    agreement = (probabilities.argmax(-1) == expected.argmax(-1)).mean()
    assert agreement > 0.9, agreement
    # Integer kernels throughout: int8 weights, and float only at a float interface.
    assert _constant_types(content, (16, 3, 3, 8)) == {"INT8"}
    ops = [name for name, _ in _model_ops(content)]
    assert ops.count("DEQUANTIZE") == (1 if io_dtype == "float32" else 0)


def test_uint8_input_is_raw_pixels_even_for_dark_calibration_images(model):
    dark = [image * 0.2 for image in calibration_images(4)]  # pixel values 0..51
    content = export.convert_to_tflite(model, input_size=SIZE, quantize="int8", argmax=True,
                                       io_dtype="uint8", representative_data=dark)
    _, inputs, _ = run_tflite(content, random_images((1,) + SIZE + (3,)))
    scale, zero = inputs["images"]["quantization"]
    assert abs(scale - 1.0) < 1e-6 and zero == 0


def test_int8_uint8_io_with_argmax(model, test_image):
    content = export.convert_to_tflite(model, input_size=SIZE, quantize="int8", argmax=True,
                                       io_dtype="uint8", representative_data=calibration_images())
    outputs, inputs, details = run_tflite(content, test_image)
    assert inputs["images"]["dtype"] == np.uint8 and details["labels"]["dtype"] == np.int32
    agreement = (outputs["labels"][0] == keras_logits(model, test_image[0]).argmax(-1)).mean()
    assert agreement > 0.9, agreement


def _model_ops(content):
    import tflite
    flat = tflite.Model.GetRootAsModel(content, 0)
    graph = flat.Subgraphs(0)
    codes = {}
    for i in range(flat.OperatorCodesLength()):
        code = flat.OperatorCodes(i)
        codes[i] = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
    names = {v: k for k, v in vars(tflite.BuiltinOperator).items() if not k.startswith("_")}
    return [(names[codes[graph.Operators(j).OpcodeIndex()]], graph.Operators(j))
            for j in range(graph.OperatorsLength())]


@pytest.mark.parametrize("quantize", ["none", "int8"])
def test_bilinear_resizes_keep_align_corners(model, quantize):
    import tflite
    content = export.convert_to_tflite(
        model, input_size=SIZE, quantize=quantize,
        representative_data=calibration_images(2) if quantize == "int8" else None)
    resizes = [op for name, op in _model_ops(content) if name == "RESIZE_BILINEAR"]
    assert resizes, "the model's upsampling must stay a RESIZE_BILINEAR op"
    for op in resizes:
        options = tflite.ResizeBilinearOptions()
        table = op.BuiltinOptions()
        options.Init(table.Bytes, table.Pos)
        assert options.AlignCorners() and not options.HalfPixelCenters()


def test_int8_without_representative_data_is_refused(model, tmp_path):
    with pytest.raises(ValueError, match="--quantize=int8 needs representative data"):
        export.export_tflite(model, tmp_path / "m.tflite", input_size=SIZE, quantize="int8")
    with pytest.raises(ValueError, match="representative dataset .* yielded no images"):
        export.convert_to_tflite(model, input_size=SIZE, quantize="int8", representative_data=[])
    with pytest.raises(ValueError, match=r"does not match the export input \[1, 33, 45, 3\]"):
        export.convert_to_tflite(model, input_size=SIZE, quantize="int8",
                                 representative_data=[np.zeros((20, 20, 3))])
    assert not list(tmp_path.iterdir())


def test_mixed_precision_model_exports_in_float32():
    """Training's --mixed_precision models compute in bfloat16, which TFLite cannot lower."""
    import keras
    from deeplab_tf.exporters.common import float32_model
    from tests.export.conftest import tiny_model
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        mixed = tiny_model()
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert mixed.get_layer("conv").compute_dtype == "bfloat16"
    reference = float32_model(mixed)
    assert reference.get_layer("conv").compute_dtype == "float32"
    for a, b in zip(mixed.get_weights(), reference.get_weights()):
        np.testing.assert_array_equal(a, b)
    image = random_images((1,) + SIZE + (3,), seed=1)
    outputs, _, _ = run_tflite(export.convert_to_tflite(mixed, input_size=SIZE), image)
    expected = tf.nn.softmax(keras_logits(reference, image[0])).numpy()
    assert np.abs(outputs["probabilities"][0] - expected).max() < 1e-3


def test_bad_options_are_refused(model):
    with pytest.raises(ValueError, match="--io_dtype=uint8 needs --quantize=int8"):
        export.convert_to_tflite(model, input_size=SIZE, io_dtype="uint8")
    with pytest.raises(ValueError, match="--quantize='int4'"):
        export.convert_to_tflite(model, input_size=SIZE, quantize="int4")
    with pytest.raises(ValueError, match="--input_size"):
        export.convert_to_tflite(model, input_size=(0, 33))


# ---------------------------------------------------------------------------------------------
# Atomic writes
# ---------------------------------------------------------------------------------------------
class Interrupted(Exception):
    pass


def _interrupt_conversion(monkeypatch):
    """Makes the real converter raise after it has started converting."""
    original = tf.lite.TFLiteConverter.convert

    def convert(self):
        original(self)
        raise Interrupted("killed midway")
    monkeypatch.setattr(tf.lite.TFLiteConverter, "convert", convert)


def test_interrupted_tflite_export_leaves_nothing(model, tmp_path, monkeypatch):
    _interrupt_conversion(monkeypatch)
    with pytest.raises(Interrupted):
        export.export_tflite(model, tmp_path / "model.tflite", input_size=SIZE)
    assert not list(tmp_path.iterdir())  # neither the output nor a temporary file


def test_a_killed_exports_staging_folder_is_removed_by_the_next_export(model, tmp_path):
    stale = tmp_path / ".model.tflite.tmp-abc123"   # what a kill -9 during conversion leaves
    stale.mkdir()
    (stale / "model.tflite").write_bytes(b"half")
    export.export_tflite(model, tmp_path / "model.tflite", input_size=SIZE)
    assert [p.name for p in tmp_path.iterdir()] == ["model.tflite"]


def test_interrupted_export_keeps_the_previous_file(model, tmp_path, monkeypatch):
    path = tmp_path / "model.tflite"
    export.export_tflite(model, path, input_size=SIZE)
    before = path.read_bytes()
    with pytest.raises(FileExistsError, match="already exists"):
        export.export_tflite(model, path, input_size=SIZE)
    _interrupt_conversion(monkeypatch)
    with pytest.raises(Interrupted):
        export.export_tflite(model, path, input_size=SIZE, overwrite=True, argmax=True)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["model.tflite"]


def test_interrupted_saved_model_export_leaves_nothing(model, tmp_path, monkeypatch):
    def save(*args, **kwargs):
        original(*args, **kwargs)  # a complete SavedModel in the staging folder, then a crash
        raise Interrupted("killed after writing")
    original = tf.saved_model.save
    monkeypatch.setattr(tf.saved_model, "save", save)
    with pytest.raises(Interrupted):
        export.export_saved_model(model, tmp_path / "saved_model")
    assert not list(tmp_path.iterdir())


def test_saved_model_overwrite_replaces_the_folder(model, tmp_path):
    path = tmp_path / "saved_model"
    export.export_saved_model(model, path, class_names=["a", "b", "c"])
    export.export_saved_model(model, path, class_names=["x", "y", "z"], overwrite=True)
    assert (path / "assets" / export.CLASS_NAMES_ASSET).read_text().split() == ["x", "y", "z"]
    assert [p.name for p in tmp_path.iterdir()] == ["saved_model"]

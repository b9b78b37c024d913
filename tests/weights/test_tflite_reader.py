"""The TFLite reader reads what a file says: names, layouts, quantization, op options; file
variants of the same family (metadata, per-channel int8, fp16) and bad files."""
import numpy as np
import pytest

from deeplab_tf.weights import tflite_reader
from deeplab_tf.weights.architecture import infer_architecture
from deeplab_tf.weights.official import OfficialWeightsError
from tests.weights import tflite_edit
from tests.weights.conftest import FLOAT_FILE, QUANT_FILE, load_rgb, logits, official, run_litert


def test_float_file_names_layouts_and_options():
    weights = tflite_reader.read_tflite(official(FLOAT_FILE))
    t = weights.tensors
    assert weights.folded and len(weights.layers) == 55  # 52 backbone + 3 head convs + logits
    assert t["MobilenetV2/Conv/weights"].shape == (3, 3, 3, 16)  # [kh, kw, in, out]
    assert t["MobilenetV2/expanded_conv/depthwise/depthwise_weights"].shape == (3, 3, 16, 1)
    assert "MobilenetV2/expanded_conv/expand/weights" not in t  # first block has no expand
    assert t["logits/semantic/weights"].shape == (1, 1, 256, 21)
    assert t["logits/semantic/biases"].shape == (21,)
    layers = weights.layers
    assert layers["MobilenetV2/Conv"].stride == (2, 2)
    assert layers["MobilenetV2/Conv"].padding == "same"
    assert layers["MobilenetV2/expanded_conv_7/depthwise"].rate == (2, 2)
    assert layers["MobilenetV2/expanded_conv_14/depthwise"].rate == (4, 4)
    assert layers["MobilenetV2/expanded_conv_3/project"].activation is None
    assert layers["MobilenetV2/expanded_conv_3/expand"].activation == "relu6"
    assert layers["concat_projection"].activation == "relu"  # the head uses ReLU, not ReLU6
    assert weights.info["resize_align_corners"] == [(True, False)] * 3


def test_quant_file_fused_names_and_dequantization():
    weights = tflite_reader.read_tflite(official(QUANT_FILE))
    t = weights.tensors
    # Names fused with ";" resolve to the scope of the segment holding "weights".
    assert t["MobilenetV2/Conv/weights"].shape == (3, 3, 3, 32)
    assert t["MobilenetV2/expanded_conv_16/project/weights"].shape == (1, 1, 960, 320)
    assert t["image_pooling/weights"].shape == (1, 1, 320, 256)
    assert weights.info["input_quantization"] == (0.0078125, 128)
    # Checked against an independent parse (LiteRT's schema object API): uint8 filter
    # (q - zero_point) * scale, int32 bias q * scale (= input scale x weight scale).
    raw = tflite_edit.load(official(QUANT_FILE))
    tensors = {tensor.name.decode(): tensor for tensor in raw.subgraphs[0].tensors}
    for fused, name, dtype in (("MobilenetV2/Conv/Conv2D_Fold;MobilenetV2/Conv/weights_quant/"
                                "FakeQuantWithMinMaxVars", "MobilenetV2/Conv/weights", np.uint8),
                               ("MobilenetV2/Conv/BatchNorm_Fold/bias", "MobilenetV2/Conv/biases",
                                np.int32)):
        tensor = tensors[fused]
        q = np.frombuffer(np.asarray(raw.buffers[tensor.buffer].data, np.uint8).tobytes(), dtype)
        scale, zero = tensor.quantization.scale[0], tensor.quantization.zeroPoint[0]
        expected = ((q.astype(np.float64) - zero) * scale).reshape(tensor.shape)
        if expected.ndim == 4:
            expected = expected.transpose(1, 2, 3, 0)
        np.testing.assert_allclose(t[name], expected, rtol=1e-6)
    assert tensors["MobilenetV2/Conv/BatchNorm_Fold/bias"].quantization.zeroPoint[0] == 0
    assert infer_architecture(weights).output_stride == 16


def _converted_logits(path, image):
    from deeplab_tf.convert import convert
    model, arch, _ = convert("official_tflite", path)
    return logits(model, image), arch


def test_file_with_tflite_metadata_converts_the_same(tmp_path, converted_float):
    edited = tflite_edit.add_metadata(tflite_edit.load(official(FLOAT_FILE)))
    path = tflite_edit.save(edited, tmp_path / "with_metadata.tflite")
    image = load_rgb("segmentation_input_rotation0.jpg")
    ours, arch = _converted_logits(path, image)
    assert arch.preset == "deeplabv3_mobilenetv2_dm05"
    reference = logits(converted_float[0], image)
    np.testing.assert_array_equal(ours, reference)


def test_per_channel_int8_weights_are_dequantized(tmp_path):
    edited = tflite_edit.load(official(FLOAT_FILE))
    expected = tflite_edit.quantize_per_channel(edited)
    path = tflite_edit.save(edited, tmp_path / "per_channel.tflite")
    weights = tflite_reader.read_tflite(path)
    np.testing.assert_allclose(weights.tensors["MobilenetV2/Conv/weights"],
                               expected["MobilenetV2/Conv/weights"].transpose(1, 2, 3, 0),
                               rtol=1e-6, atol=1e-7)
    name = "MobilenetV2/expanded_conv_5/depthwise/depthwise_weights"
    np.testing.assert_allclose(weights.tensors[name][..., 0], expected[name][0], rtol=1e-6,
                               atol=1e-7)


def test_fp16_weights_behind_dequantize_match_litert(tmp_path):
    edited = tflite_edit.float16_behind_dequantize(tflite_edit.load(official(FLOAT_FILE)))
    path = tflite_edit.save(edited, tmp_path / "fp16.tflite")
    image = load_rgb("segmentation_input_rotation0.jpg")
    ours, _ = _converted_logits(path, image)
    reference = run_litert(path, image)  # LiteRT runs the edited file itself
    assert float(np.abs(ours - reference).max()) < 1e-3


def test_not_a_tflite_file(tmp_path):
    with pytest.raises(OfficialWeightsError, match="segmentation_input_rotation0.jpg is not a "
                                                  "TFLite flatbuffer"):
        tflite_reader.read_tflite(official("segmentation_input_rotation0.jpg"))
    empty = tmp_path / "empty.tflite"
    empty.write_bytes(b"")
    with pytest.raises(OfficialWeightsError, match="empty.tflite is not a TFLite"):
        tflite_reader.read_tflite(empty)


@pytest.mark.parametrize("fraction", [0.02, 0.3, 0.9])
def test_truncated_file_is_named(tmp_path, fraction):
    data = open(official(FLOAT_FILE), "rb").read()
    cut = tmp_path / "cut.tflite"
    cut.write_bytes(data[:int(len(data) * fraction)])
    with pytest.raises(OfficialWeightsError, match="cut.tflite is a truncated or corrupt TFLite"):
        tflite_reader.read_tflite(cut)


def test_unnamed_weights_are_a_clear_error(tmp_path):
    edited = tflite_edit.rename_tensors(tflite_edit.load(official(FLOAT_FILE)), b"weights",
                                        b"kernel")
    path = tflite_edit.save(edited, tmp_path / "renamed.tflite")
    with pytest.raises(OfficialWeightsError, match=r"op 0 has a filter tensor "
                                                  r"'MobilenetV2/Conv/kernel' with no official"):
        tflite_reader.read_tflite(path)


def test_unknown_backbone_family_is_a_clear_error(tmp_path):
    edited = tflite_edit.rename_tensors(tflite_edit.load(official(FLOAT_FILE)), b"MobilenetV2",
                                        b"MobilenetV9")
    path = tflite_edit.save(edited, tmp_path / "v9.tflite")
    with pytest.raises(OfficialWeightsError, match="expected exactly one official backbone"):
        infer_architecture(tflite_reader.read_tflite(path))


@pytest.mark.parametrize("edit, message", [
    (tflite_edit.swap_concat_inputs,
     r"head branches concatenated as \['aspp0', 'image_pooling'\]"),
    (tflite_edit.resize_half_pixel,
     r"bilinear resizes with \(align_corners, half_pixel_centers\) in \[\(False, True\)\]"),
    (lambda m: tflite_edit.set_activation(m, "concat_projection", 3),
     "concat_projection has activation relu6, ours relu"),
])
def test_graph_that_computes_differently_is_refused(tmp_path, edit, message):
    """What our models hard-wire is read from the file and checked, not assumed."""
    path = tflite_edit.save(edit(tflite_edit.load(official(FLOAT_FILE))),
                            tmp_path / "x.tflite")
    with pytest.raises(OfficialWeightsError,
                       match="the graph differs from our models: " + message):
        infer_architecture(tflite_reader.read_tflite(path))


def test_file_without_convolutions_is_a_clear_error(tmp_path):
    import tensorflow as tf
    converter = tf.lite.TFLiteConverter.from_concrete_functions(
        [tf.function(lambda x: tf.nn.relu(x) * 2.0).get_concrete_function(
            tf.TensorSpec([1, 4], tf.float32))])
    path = tmp_path / "no_conv.tflite"
    path.write_bytes(converter.convert())
    with pytest.raises(OfficialWeightsError, match=r"no_conv.tflite: no CONV_2D/DEPTHWISE_CONV_2D "
                                                  r"weights found \(ops: \['MUL', 'RELU'\]\)"):
        tflite_reader.read_tflite(path)

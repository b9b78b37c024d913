"""SavedModel export: signatures, parity with Keras, class-name asset, bad inputs, and the
saved_model_cli checks TensorFlow Serving relies on. Loaded with the real tf.saved_model.load."""
import io
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from deeplab_tf import export
from tests.export.conftest import random_images

SAVED_MODEL_CLI = [sys.executable, "-m", "tensorflow.python.tools.saved_model_cli"]


@pytest.fixture(scope="module")
def loaded(saved_model_dir):
    return tf.saved_model.load(str(saved_model_dir))


def keras_probabilities(model, images):
    return tf.nn.softmax(model(images.astype(np.float32), training=False)).numpy()


@pytest.mark.parametrize("shape", [(1, 33, 33, 3), (2, 41, 64, 3)])
def test_serving_default_matches_keras(model, loaded, shape):
    images = random_images(shape, seed=shape[1])
    out = loaded.signatures[export.SERVING_KEY](images=tf.constant(images))
    expected = keras_probabilities(model, images)
    assert out["probabilities"].dtype == tf.float32
    assert out["probabilities"].shape == shape[:3] + (3,)
    assert out["labels"].dtype == tf.int32 and out["labels"].shape == shape[:3]
    assert np.abs(out["probabilities"].numpy() - expected).max() < 1e-4
    np.testing.assert_array_equal(out["labels"].numpy(), expected.argmax(-1))


@pytest.mark.parametrize("encode", [tf.io.encode_png, tf.io.encode_jpeg])
def test_bytes_signature_decodes_like_the_image_signature(loaded, encode):
    images = random_images((2, 35, 40, 3), seed=3)
    encoded = tf.stack([encode(image) for image in images])
    out = loaded.signatures[export.BYTES_KEY](image_bytes=encoded)
    decoded = np.stack([tf.io.decode_image(e, channels=3).numpy() for e in encoded])
    reference = loaded.signatures[export.SERVING_KEY](images=tf.constant(decoded))
    assert out["labels"].shape == (2, 35, 40)
    assert np.abs(out["probabilities"].numpy() - reference["probabilities"].numpy()).max() < 1e-6


def test_class_names_are_an_asset(saved_model_dir, loaded):
    asset = saved_model_dir / "assets" / export.CLASS_NAMES_ASSET
    assert asset.read_text().split() == ["background", "cat", "dog"]
    assert [n.decode() for n in loaded.class_names.numpy()] == ["background", "cat", "dog"]
    assert tf.io.read_file(loaded.class_names_asset.asset_path).numpy().split() == [
        b"background", b"cat", b"dog"]


@pytest.mark.parametrize("data, expected", [
    (b"this is not an image", "image_bytes: element"),
    (b"", "image_bytes: element"),
    (b"\xff\xfe\x80\x81\xc3\x28 not UTF-8",   # bytes, not text, in the message
     "not an encoded .* first bytes are\\] \\[255 254 128"),
    (b"GIF89a\xff\xff\xff\xff\x00\x00", "over the pixel limit"),   # a 65535x65535 screen
    (b"BM" + bytes(16) + b"\x00\x00\x01\x00" * 2 + bytes(8), "over the pixel limit"),
    (None, "image_bytes_decode"),  # a PNG cut short: the decoder's error names the input
])
def test_corrupt_bytes_raise_invalid_argument_naming_the_input(loaded, data, expected):
    if data is None:
        data = tf.io.encode_png(random_images((33, 33, 3))).numpy()[:60]
    with pytest.raises(tf.errors.InvalidArgumentError, match=expected):
        loaded.signatures[export.BYTES_KEY](image_bytes=tf.constant([data]))


def test_differently_sized_images_in_one_request_are_refused(loaded):
    encoded = tf.stack([tf.io.encode_png(random_images((33, 33, 3))),
                        tf.io.encode_png(random_images((35, 33, 3)))])
    with pytest.raises(tf.errors.InvalidArgumentError, match="same height and width"):
        loaded.signatures[export.BYTES_KEY](image_bytes=encoded)


@pytest.mark.parametrize("signature, encoding", [
    ("images", None), ("image_bytes", "PNG"), ("image_bytes", "BMP")])
def test_image_over_the_pixel_limit_is_refused(loaded, signature, encoding):
    image = random_images((1, 81, 81, 3))  # the fixture's limit is 80 * 80 pixels
    # PNG/JPEG are refused from their header, other formats (BMP) after decoding.
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match=f"{signature}: .*over the pixel limit max_pixels=6400"):
        if signature == "images":
            loaded.signatures[export.SERVING_KEY](images=tf.constant(image))
        else:
            buffer = io.BytesIO()
            Image.fromarray(image[0]).save(buffer, format=encoding)
            loaded.signatures[export.BYTES_KEY](image_bytes=tf.constant([buffer.getvalue()]))


@pytest.mark.parametrize("encode", [tf.io.encode_png, tf.io.encode_jpeg])
def test_oversized_image_bytes_are_refused_before_decoding(loaded, encode):
    """A header claiming 100000 x 100000 pixels: refused from the header, never decoded."""
    encoded = encode(random_images((33, 33, 3))).numpy()
    if encode is tf.io.encode_png:  # IHDR width and height, big-endian, at bytes 16..23
        forged = encoded[:16] + (100000).to_bytes(4, "big") * 2 + encoded[24:]
    else:  # baseline SOF0 marker: precision (1 byte), then height and width (2 bytes each)
        at = encoded.index(b"\xff\xc0") + 5
        forged = encoded[:at] + (60000).to_bytes(2, "big") * 2 + encoded[at + 4:]
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match=r"image_bytes: element\] \[0\] \[is an image over the pixel limit"):
        loaded.signatures[export.BYTES_KEY](image_bytes=tf.constant([forged]))


@pytest.mark.parametrize("shape", [(33, 33, 3), (1, 33, 33, 4), (1, 1, 33, 33, 3)])
def test_wrong_rank_or_channels_is_a_clear_error_not_a_crash(loaded, shape):
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match=r"Shape of tensor images .* is not compatible with expected shape "
                             r"\[\?,\?,\?,3\]"):
        loaded.signatures[export.SERVING_KEY](images=tf.zeros(shape, tf.uint8))


def test_wrong_dtype_is_a_clear_error(loaded):
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match="expected to be a uint8 tensor but is a float tensor"):
        loaded.signatures[export.SERVING_KEY](images=tf.zeros((1, 33, 33, 3), tf.float32))
    # The tf.function itself names the input and the expected spec.
    with pytest.raises(TypeError, match="images"):
        loaded.serve_images(tf.zeros((1, 33, 33, 3), tf.float32))


def test_empty_image_is_refused(loaded):
    with pytest.raises(tf.errors.InvalidArgumentError, match="images: the image has no pixels"):
        loaded.signatures[export.SERVING_KEY](images=tf.zeros((1, 0, 33, 3), tf.uint8))


def test_empty_batch_is_refused(loaded):
    with pytest.raises(tf.errors.InvalidArgumentError, match="images: the batch is empty"):
        loaded.signatures[export.SERVING_KEY](images=tf.zeros((0, 33, 33, 3), tf.uint8))
    with pytest.raises(tf.errors.InvalidArgumentError, match="image_bytes: the batch is empty"):
        loaded.signatures[export.BYTES_KEY](image_bytes=tf.constant([], tf.string))


def test_saved_model_cli_show_lists_both_signatures(saved_model_dir):
    out = subprocess.run(SAVED_MODEL_CLI + ["show", "--dir", str(saved_model_dir), "--all"],
                         capture_output=True, text=True, check=True).stdout
    default = out[out.index(f"signature_def['{export.SERVING_KEY}']"):]
    assert "inputs['images'] tensor_info:\n        dtype: DT_UINT8\n        shape: (-1, -1, -1, 3)" \
        in default
    assert "outputs['labels'] tensor_info:\n        dtype: DT_INT32\n        shape: (-1, -1, -1)" \
        in default
    assert "outputs['probabilities'] tensor_info:\n        dtype: DT_FLOAT\n        " \
           "shape: (-1, -1, -1, 3)" in default
    bytes_sig = out[out.index(f"signature_def['{export.BYTES_KEY}']"):]
    assert "inputs['image_bytes'] tensor_info:\n        dtype: DT_STRING\n        shape: (-1)" \
        in bytes_sig


def test_saved_model_cli_run(model, saved_model_dir, tmp_path):
    images = random_images((1, 33, 37, 3), seed=7)
    np.save(tmp_path / "images.npy", images)
    subprocess.run(SAVED_MODEL_CLI + [
        "run", "--dir", str(saved_model_dir), "--tag_set", "serve",
        "--signature_def", export.SERVING_KEY, "--inputs", f"images={tmp_path / 'images.npy'}",
        "--outdir", str(tmp_path / "out")], capture_output=True, text=True, check=True)
    probabilities = np.load(tmp_path / "out" / "probabilities.npy")
    labels = np.load(tmp_path / "out" / "labels.npy")
    expected = keras_probabilities(model, images)
    assert np.abs(probabilities - expected).max() < 1e-4
    np.testing.assert_array_equal(labels, expected.argmax(-1))


def test_wrong_number_of_class_names_is_refused(model, tmp_path):
    with pytest.raises(ValueError, match="2 class names given for a model of 3 classes"):
        export.export_saved_model(model, tmp_path / "sm", class_names=["a", "b"])
    assert not (tmp_path / "sm").exists()


def test_runs_through_inference(model, saved_model_dir):
    """deeplab_tf.inference (evaluate, predict, benchmark) reads our SavedModel's outputs."""
    from deeplab_tf import inference
    predictor = inference.load_predictor(str(saved_model_dir))
    assert predictor.output == inference.PROBABILITIES and predictor.num_classes == 3
    # 33x49 = (16k+1)x(16k'+1): no padding. (Padded images differ slightly: uint8 inputs pad
    # with 128 where the float Keras model gets the mean pixel 127.5.)
    image = random_images((33, 49, 3), seed=11)
    probs, = inference.predict_probabilities(predictor, [image])
    reference = inference.predictor_from_keras(model)
    expected, = inference.predict_probabilities(reference, [image])
    assert np.abs(probs - expected).max() < 1e-4


@pytest.mark.parametrize("encode", ["png", "jpeg"])
def test_damaged_image_bytes_get_invalid_argument_or_a_result(loaded, encode):
    """Seeded fuzzing (tests/test_fuzz.py): truncations and byte flips of a real encoded
    image sent to serving_bytes are decoded or refused with InvalidArgument naming the input,
    never another error."""
    data = getattr(tf.io, f"encode_{encode}")(random_images((33, 33, 3))).numpy()
    rng = np.random.default_rng(20261201)
    outcomes = []
    for i in range(10):
        if i % 2 == 0:
            variant = data[:int(rng.integers(0, len(data)))]
        else:
            variant = bytearray(data)
            for position in rng.integers(0, len(data), 8):
                variant[position] ^= int(rng.integers(1, 256))
            variant = bytes(variant)
        try:
            out = loaded.signatures[export.BYTES_KEY](image_bytes=tf.constant([variant]))
            assert out["labels"].shape[0] == 1
            outcomes.append("decoded")
        except tf.errors.InvalidArgumentError as error:
            assert "image_bytes" in error.message, error.message
            outcomes.append("refused")
    assert "refused" in outcomes

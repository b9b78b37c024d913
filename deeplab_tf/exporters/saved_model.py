"""SavedModel export for TensorFlow Serving.

Signatures:
  "serving_default": images uint8 [B, H, W, 3] (any H, W up to max_pixels)
      -> {"labels": int32 [B, H, W], "probabilities": float32 [B, H, W, C]}
  "serving_bytes": image_bytes string [B] (encoded JPEG/PNG/BMP/GIF, all of one size; over
      REST each is sent base64-encoded as {"b64": ...}, and the "_bytes" suffix is what Google
      Cloud's prediction service expects of binary inputs)
      -> the same outputs.
Class names are stored as the asset assets/class_names.txt (one per line) and as the variable
`class_names` of the loaded object. Bad inputs (corrupt bytes, wrong rank or channels, images
over max_pixels, empty images) raise InvalidArgument errors naming the input.
"""
from deeplab_tf.exporters.common import atomic_output, check_model, tracked_variables

SERVING_KEY = "serving_default"
BYTES_KEY = "serving_bytes"
CLASS_NAMES_ASSET = "class_names.txt"
# Images larger than this are refused (a 4096x4096 image already needs ~1.4 GB of float32
# probabilities for 21 classes); configurable per export.
DEFAULT_MAX_PIXELS = 4096 * 4096
# Leading bytes of the formats tf.io.decode_image reads.
_MAGIC = {"JPEG": b"\xff\xd8\xff", "PNG": b"\x89PNG\r\n\x1a\n", "BMP": b"BM", "GIF": b"GIF8"}


def _build_servable(model, class_names, max_pixels, class_names_path):
    import tensorflow as tf

    def predict(images, input_name):
        """uint8 [B, H, W, 3] -> labels int32 [B, H, W], probabilities float32 [B, H, W, C]."""
        # A signature does not enforce its input shape at run time (a rank-3 tensor reaches the
        # convolutions and aborts the process): check it first, naming the input.
        images = tf.ensure_shape(images, [None, None, None, 3], name=f"{input_name}_shape_check")
        shape = tf.shape(images, out_type=tf.int64)
        checks = [
            tf.debugging.assert_positive(shape[0], message=f"{input_name}: the batch is empty"),
            tf.debugging.assert_positive(
                shape[1] * shape[2], message=f"{input_name}: the image has no pixels"),
            tf.debugging.Assert(
                shape[1] * shape[2] <= max_pixels,
                [f"{input_name}: an image over the pixel limit max_pixels={max_pixels} was "
                 "refused; its shape [B, H, W, 3] is", shape])]
        with tf.control_dependencies(checks):
            logits = logits_fn(tf.cast(images, tf.float32))
        return {"labels": tf.argmax(logits, axis=-1, output_type=tf.int32),
                "probabilities": tf.nn.softmax(logits, axis=-1)}

    # One traced call of the model shared by both signatures (tracing a big model is slow).
    @tf.function(input_signature=[tf.TensorSpec([None, None, None, 3], tf.float32)])
    def logits_fn(images):
        return tf.cast(model(images, training=False), tf.float32)

    def header_pixels(data):
        """H*W from a JPEG or PNG header (0 for other formats), read before decoding."""
        def png():  # IHDR: width and height as big-endian uint32 at bytes 16..23
            raw = tf.cast(tf.io.decode_raw(tf.strings.substr(data, 16, 8), tf.uint8), tf.int64)
            width = raw[0] * 2**24 + raw[1] * 2**16 + raw[2] * 2**8 + raw[3]
            height = raw[4] * 2**24 + raw[5] * 2**16 + raw[6] * 2**8 + raw[7]
            return width * height

        def jpeg():
            shape = tf.image.extract_jpeg_shape(data, output_type=tf.int64,
                                                name="image_bytes_jpeg_header")
            return shape[0] * shape[1]

        def little_endian(offset, length):
            raw = tf.cast(tf.io.decode_raw(tf.strings.substr(data, offset, length), tf.uint8),
                          tf.int64)
            return tf.reduce_sum(raw * (256 ** tf.range(length, dtype=tf.int64)))

        def gif():  # logical screen: width and height as little-endian uint16 at bytes 6..9
            return little_endian(6, 2) * little_endian(8, 2)

        def bmp():  # BITMAPINFOHEADER: int32 width at 18, height at 22 (negative: top-down)
            height = little_endian(22, 4)
            height = tf.where(height >= 2**31, 2**32 - height, height)
            return little_endian(18, 4) * height

        length = tf.strings.length(data)
        is_png = tf.logical_and(tf.equal(tf.strings.substr(data, 0, 8), _MAGIC["PNG"]),
                                length >= 24)
        is_jpeg = tf.equal(tf.strings.substr(data, 0, 3), _MAGIC["JPEG"])
        is_gif = tf.logical_and(tf.equal(tf.strings.substr(data, 0, 4), _MAGIC["GIF"]),
                                length >= 10)
        is_bmp = tf.logical_and(tf.equal(tf.strings.substr(data, 0, 2), _MAGIC["BMP"]),
                                length >= 26)
        return tf.case([(is_png, png), (is_jpeg, jpeg), (is_gif, gif), (is_bmp, bmp)],
                       default=lambda: tf.constant(0, tf.int64))

    def leading_bytes(data):
        """The first 8 bytes as numbers: a message must not carry raw (non-UTF-8) bytes."""
        raw = tf.io.decode_raw(tf.strings.substr(data, 0, 8), tf.uint8)
        return tf.strings.reduce_join(tf.strings.as_string(raw), separator=" ")

    def decode(args):
        data, index = args
        known = tf.reduce_any(tf.stack([
            tf.equal(tf.strings.substr(data, 0, len(magic)), magic) for magic in _MAGIC.values()]))
        check = tf.debugging.Assert(known, [
            "image_bytes: element", index, "is not an encoded JPEG, PNG, BMP or GIF image; "
            "its first bytes are", leading_bytes(data)])
        with tf.control_dependencies([check]):
            # Refuse oversized JPEG/PNG before decoding them (a small file can hold a huge
            # image); other formats are checked after decoding, in predict().
            pixels = header_pixels(data)
        limit = tf.debugging.Assert(pixels <= max_pixels, [
            "image_bytes: element", index, f"is an image over the pixel limit max_pixels="
            f"{max_pixels} (its header says H*W =", pixels, ")"])
        with tf.control_dependencies([limit]):
            return tf.io.decode_image(data, channels=3, expand_animations=False,
                                      name="image_bytes_decode")

    class Servable(tf.Module):
        def __init__(self):
            super().__init__()
            # Only the variables are tracked, not the keras.Model: saving it as an object would
            # serialise (and on load revive) every Keras layer, slow for big backbones.
            self.model_variables = tracked_variables(model)  # for TF1-style loaders: TF Serving
            self.logits = logits_fn
            self.class_names_asset = tf.saved_model.Asset(str(class_names_path))
            self.class_names = tf.Variable(list(class_names), trainable=False, name="class_names")

        @tf.function(input_signature=[tf.TensorSpec([None, None, None, 3], tf.uint8,
                                                    name="images")])
        def serve_images(self, images):
            return predict(images, "images")

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="image_bytes")])
        def serve_bytes(self, image_bytes):
            count = tf.size(image_bytes)
            check = tf.debugging.assert_positive(count, message="image_bytes: the batch is empty")
            with tf.control_dependencies([check]):
                first = decode((image_bytes[0], 0))

            def decode_same_size(args):
                return _same_size(decode(args), tf.shape(first))

            images = tf.map_fn(decode_same_size, (image_bytes, tf.range(count)),
                               fn_output_signature=tf.TensorSpec([None, None, 3], tf.uint8))
            return predict(images, "image_bytes")

    def _same_size(image, reference):
        check = tf.debugging.assert_equal(
            tf.shape(image), reference,
            message="image_bytes: all images of one request must have the same height and "
                    "width (send differently sized images in separate requests)")
        with tf.control_dependencies([check]):
            return tf.identity(image)

    return Servable()


def export_saved_model(model, output, *, class_names=None, max_pixels=DEFAULT_MAX_PIXELS,
                       overwrite=False):
    """Writes `model` (float images 0..255 -> logits) as a TF Serving SavedModel at `output`.

    Args:
      model: keras.Model [B, H, W, 3] float32 0..255 -> logits [B, H, W, C].
      class_names: C names (default "class_0".."class_{C-1}"), stored as an asset.
      max_pixels: images with H*W above this are refused with InvalidArgument.
    Returns: the output path.
    """
    import tensorflow as tf
    num_classes = check_model(model)
    class_names = list(class_names) if class_names else [f"class_{i}" for i in range(num_classes)]
    if len(class_names) != num_classes:
        raise ValueError(f"{len(class_names)} class names given for a model of {num_classes} "
                         "classes")
    if int(max_pixels) <= 0:
        raise ValueError(f"--max_pixels={max_pixels} must be positive")
    with atomic_output(output, overwrite) as staged:
        names_file = staged.parent / CLASS_NAMES_ASSET
        names_file.write_text("".join(f"{name}\n" for name in class_names))
        servable = _build_servable(model, class_names, int(max_pixels), names_file)
        signatures = {
            SERVING_KEY: servable.serve_images.get_concrete_function(),
            BYTES_KEY: servable.serve_bytes.get_concrete_function()}
        tf.saved_model.save(servable, str(staged), signatures=signatures)
    return str(output)

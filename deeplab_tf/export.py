"""Export a DeepLab model: a SavedModel for TensorFlow Serving, a .tflite file for devices.

    python -m deeplab_tf.export --model=runs/train/model.keras --format=saved_model \
        --output=exported/deeplab
    python -m deeplab_tf.export --model=model.keras --format=tflite --quantize=int8 \
        --input_size=513,513 --argmax --io_dtype=uint8 \
        --dataset=voc2012 --data_dir=TFRECORDS --output=deeplab_int8.tflite

SavedModel signatures (servable by TensorFlow Serving as is):
  "serving_default": images uint8 [B, H, W, 3] (any H, W up to --max_pixels)
      -> {"labels": int32 [B, H, W], "probabilities": float32 [B, H, W, C]}
  "serving_bytes": image_bytes string [B] (encoded JPEG/PNG/BMP/GIF, all of one size; the
      "_bytes" suffix makes TF Serving's REST API base64-decode {"b64": ...} values)
      -> the same outputs.
  Class names are stored as the asset assets/class_names.txt (one per line).

TFLite files have a fixed input [1, H, W, 3] (--input_size) and one signature
"serving_default" with input "images" (float32 in 0..255, or uint8 for --io_dtype=uint8) and
output "probabilities" [1, H, W, C] (float32, or uint8 with scale 1/256 for uint8 I/O), or
"labels" int32 [1, H, W] with --argmax. Every resize keeps align_corners=True (the model's
ResizeBilinear layers lower to RESIZE_BILINEAR with align_corners=True).

Every export is atomic: written into a temporary folder beside --output, then renamed, so an
interrupted export never leaves a half-written file or folder at --output.
"""
import contextlib
import os
import pathlib
import shutil
import sys
import tempfile

SERVING_KEY = "serving_default"
BYTES_KEY = "serving_bytes"
CLASS_NAMES_ASSET = "class_names.txt"
# Images larger than this are refused (a 4096x4096 image already needs ~1.4 GB of float32
# probabilities for 21 classes); configurable per export.
DEFAULT_MAX_PIXELS = 4096 * 4096
QUANTIZE_MODES = ("none", "fp16", "dynamic", "int8")
IO_DTYPES = ("float32", "uint8")
_MAGIC = {"JPEG": b"\xff\xd8\xff", "PNG": b"\x89PNG\r\n\x1a\n", "BMP": b"BM", "GIF": b"GIF8"}


# ---------------------------------------------------------------------------------------------
# Atomic outputs
# ---------------------------------------------------------------------------------------------
@contextlib.contextmanager
def atomic_output(output, overwrite=False):
    """Yields a staging path beside `output`; renames it to `output` only if the block succeeds.

    The staging folder (".NAME.tmp-XXXX" in the output's parent, same filesystem so the rename
    is atomic) is removed whatever happens; an existing output is replaced only with overwrite.
    """
    output = pathlib.Path(output).absolute()
    if output.exists() and not overwrite:
        raise FileExistsError(f"--output={output} already exists (pass --overwrite to replace it)")
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = pathlib.Path(tempfile.mkdtemp(prefix=f".{output.name}.tmp-", dir=output.parent))
    try:
        staged = tmp / output.name
        yield staged
        if not staged.exists():
            raise RuntimeError(f"export wrote nothing to {staged}")
        if output.exists():  # move the old export aside first: rename cannot replace a folder
            os.replace(output, tmp / "previous")
        os.replace(staged, output)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# ---------------------------------------------------------------------------------------------
# SavedModel
# ---------------------------------------------------------------------------------------------
def _check_model(model):
    shape = tuple(model.inputs[0].shape) if getattr(model, "inputs", None) else None
    if shape is None or len(shape) != 4 or shape[-1] != 3:
        raise ValueError(f"the model must take images [B, H, W, 3]; its input shape is {shape}")
    out = tuple(model.outputs[0].shape)
    if len(out) != 4:
        raise ValueError(f"the model must return logits [B, H, W, C]; its output shape is {out}")
    return out[-1]


def _build_servable(model, class_names, max_pixels, class_names_path):
    import tensorflow as tf

    def predict(images, input_name):
        """uint8 [B, H, W, 3] -> labels int32 [B, H, W], probabilities float32 [B, H, W, C]."""
        # A signature does not enforce its input shape at run time (a rank-3 tensor reaches the
        # convolutions and aborts the process): check it first, naming the input.
        images = tf.ensure_shape(images, [None, None, None, 3], name=f"{input_name}_shape_check")
        shape = tf.shape(images, out_type=tf.int64)
        checks = [
            tf.debugging.assert_positive(
                shape[1] * shape[2], message=f"{input_name}: the image has no pixels"),
            tf.debugging.Assert(
                shape[1] * shape[2] <= max_pixels,
                [f"{input_name}: an image over the pixel limit max_pixels={max_pixels} was "
                 "refused; its shape [B, H, W, 3] is", shape])]
        with tf.control_dependencies(checks):
            logits = model(tf.cast(images, tf.float32), training=False)
        logits = tf.cast(logits, tf.float32)
        return {"labels": tf.argmax(logits, axis=-1, output_type=tf.int32),
                "probabilities": tf.nn.softmax(logits, axis=-1)}

    def decode(args):
        data, index = args
        known = tf.reduce_any(tf.stack([
            tf.equal(tf.strings.substr(data, 0, len(magic)), magic) for magic in _MAGIC.values()]))
        check = tf.debugging.Assert(known, [
            "image_bytes: element", index, "is not an encoded JPEG, PNG, BMP or GIF image; "
            "its first bytes are", tf.strings.substr(data, 0, 8)])
        with tf.control_dependencies([check]):
            return tf.io.decode_image(data, channels=3, expand_animations=False,
                                      name="image_bytes_decode")

    class Servable(tf.Module):
        def __init__(self):
            super().__init__()
            self.model = model
            self.model_variables = _variables(model)  # for TF1-style loaders: TF Serving
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
            images = tf.map_fn(
                lambda args: _same_size(decode(args), tf.shape(first)), (image_bytes,
                                                                         tf.range(count)),
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
    num_classes = _check_model(model)
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


# ---------------------------------------------------------------------------------------------
# TFLite
# ---------------------------------------------------------------------------------------------
def _variables(model):
    """A tf.Module tracking the model's backing tf.Variables.

    Keras 3 variables wrap a tf.Variable; trackers that load a SavedModel the TF1 way (TF
    Serving, saved_model_cli run, the TFLite converter's freezing step) only find the wrapped
    ones when they are tracked directly. Passing the keras.Model itself to the converter gives,
    with TF 2.21, a float file whose outputs are NaN and an int8 calibration that fails on
    READ_VARIABLE ops.
    """
    import tensorflow as tf
    module = tf.Module()
    module.model_variables = [v.value for v in model.variables]
    return module


def _tflite_function(model, input_size, argmax):
    """A concrete function [1, H, W, 3] float32 0..255 -> {"probabilities"} or {"labels"}."""
    import tensorflow as tf
    height, width = input_size

    @tf.function(input_signature=[tf.TensorSpec([1, height, width, 3], tf.float32,
                                                name="images")])
    def serve(images):
        logits = tf.cast(model(images, training=False), tf.float32)
        if argmax:  # argmax of logits = argmax of probabilities: skip the softmax
            return {"labels": tf.argmax(logits, axis=-1, output_type=tf.int32)}
        return {"probabilities": tf.nn.softmax(logits, axis=-1)}

    return serve.get_concrete_function()


def _representative_generator(representative_data, input_size, limit):
    """Wraps an iterable of images [H, W, 3] / [1, H, W, 3] (0..255) for the TFLite converter."""
    import numpy as np

    def generate():
        count = 0
        for image in representative_data:
            image = np.asarray(image, dtype=np.float32)
            if image.ndim == 3:
                image = image[None]
            if image.shape[1:] != (*input_size, 3):
                raise ValueError(
                    f"representative image of shape {image.shape} does not match the export "
                    f"input [1, {input_size[0]}, {input_size[1]}, 3]")
            for single in image:
                yield [single[None]]
                count += 1
                if limit and count >= limit:
                    return
        if count == 0:
            raise ValueError("the representative dataset for --quantize=int8 yielded no images")

    return generate


def convert_to_tflite(model, *, input_size, quantize="none", argmax=False, io_dtype="float32",
                      representative_data=None, num_calibration_images=0):
    """Converts `model` to TFLite flatbuffer bytes (see the module docstring for the I/O).

    Args:
      input_size: (H, W) of the fixed input.
      quantize: none | fp16 (float16 weights) | dynamic (int8 weights, float activations) |
        int8 (full integer, calibrated on representative_data).
      io_dtype: float32 | uint8, the input/output type of an int8 model (uint8 takes raw pixels).
      representative_data: for int8, an iterable of float images [H, W, 3] or [N, H, W, 3] in
        0..255 at input_size (e.g. representative_images_from_pipeline).
      num_calibration_images: stop after this many images (0: all).
    """
    import tensorflow as tf
    _check_model(model)
    if quantize not in QUANTIZE_MODES:
        raise ValueError(f"--quantize={quantize!r}; allowed: {', '.join(QUANTIZE_MODES)}")
    if io_dtype not in IO_DTYPES:
        raise ValueError(f"--io_dtype={io_dtype!r}; allowed: {', '.join(IO_DTYPES)}")
    if io_dtype != "float32" and quantize != "int8":
        raise ValueError(f"--io_dtype={io_dtype} needs --quantize=int8 (got {quantize})")
    if quantize == "int8" and representative_data is None:
        raise ValueError("--quantize=int8 needs representative data to calibrate activation "
                         "ranges: pass --dataset/--data_dir (drawn from the data pipeline) or "
                         "--representative_images=GLOB")
    input_size = tuple(int(v) for v in input_size)
    if len(input_size) != 2 or min(input_size) <= 0:
        raise ValueError(f"--input_size={input_size} must be two positive integers H,W")
    function = _tflite_function(model, input_size, argmax)
    converter = tf.lite.TFLiteConverter.from_concrete_functions([function], _variables(model))
    if quantize != "none":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if quantize == "fp16":
        converter.target_spec.supported_types = [tf.float16]
    if quantize == "int8":
        converter.representative_dataset = _representative_generator(
            representative_data, input_size, num_calibration_images)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        if io_dtype == "uint8":
            converter.inference_input_type = tf.uint8
            if not argmax:  # labels stay int32
                converter.inference_output_type = tf.uint8
    return converter.convert()


def export_tflite(model, output, *, overwrite=False, **kwargs):
    """Converts `model` (convert_to_tflite arguments) and writes the .tflite file atomically."""
    with atomic_output(output, overwrite) as staged:
        staged.write_bytes(convert_to_tflite(model, **kwargs))
    return str(output)


# ---------------------------------------------------------------------------------------------
# Inputs: models, class names, representative data
# ---------------------------------------------------------------------------------------------
def load_model(*, model_path=None, checkpoint=None, model_config=None):
    """A keras.Model from a .keras file, or from build_model(model_config) + checkpoint weights.

    checkpoint: a .weights.h5 / .keras file, or a TF checkpoint prefix or folder (the latest
    checkpoint in it) holding the model under the key "model".
    """
    import keras
    import tensorflow as tf
    import deeplab_tf
    import deeplab_tf.models.builder  # noqa: F401  registers the custom layers for load_model
    if bool(model_path) == bool(checkpoint):
        raise ValueError("pass exactly one of --model=PATH.keras and --checkpoint=PATH")
    if model_path:
        if not os.path.isfile(model_path) or not str(model_path).endswith(".keras"):
            raise FileNotFoundError(f"--model={model_path} is not a .keras file")
        return keras.saving.load_model(model_path, compile=False)
    checkpoint = str(checkpoint)
    model_config = _signature_config(checkpoint) or model_config
    if model_config is None:
        raise ValueError("--checkpoint needs the model to rebuild: pass --preset")
    model = deeplab_tf.build_model(model_config.preset, num_classes=model_config.num_classes,
                                   output_stride=model_config.output_stride,
                                   **model_config.build_kwargs())
    if checkpoint.endswith((".weights.h5", ".keras")):
        if not os.path.isfile(checkpoint):
            raise FileNotFoundError(f"--checkpoint={checkpoint} does not exist")
        model.load_weights(checkpoint)
        return model
    prefix = tf.train.latest_checkpoint(checkpoint) if os.path.isdir(checkpoint) else checkpoint
    if not prefix or not tf.io.gfile.exists(prefix + ".index"):
        raise FileNotFoundError(f"--checkpoint={checkpoint}: no TF checkpoint found there")
    tf.train.Checkpoint(model=model).restore(prefix).expect_partial().assert_existing_objects_matched()
    return model


def _signature_config(checkpoint):
    """The ModelConfig recorded by training beside a checkpoint (model_signature.json), if any."""
    from deeplab_tf.config import ModelConfig
    from deeplab_tf.training.checkpoints import read_signature
    folder = checkpoint if os.path.isdir(checkpoint) else os.path.dirname(checkpoint)
    signature = read_signature(folder or ".")
    if signature is None:
        return None
    return ModelConfig(preset=signature["preset"], num_classes=signature["num_classes"],
                       output_stride=signature["output_stride"],
                       overrides=tuple((k, v) for k, v in signature["overrides"]))


def read_class_names(path):
    names = [line.strip() for line in pathlib.Path(path).read_text().splitlines() if line.strip()]
    if not names:
        raise ValueError(f"--class_names_file={path} holds no class names")
    return names


def dataset_class_names(dataset, num_classes):
    """The dataset's class names when its class count matches the model's, else None."""
    try:
        from deeplab_tf.data.datasets import DATASETS
    except ImportError:
        return None
    info = DATASETS.get(dataset)
    names = list(getattr(info, "class_names", None) or [])
    return names if len(names) == num_classes else None


def representative_images_from_pipeline(data_config, split, input_size, count):
    """Yields `count` float images [H, W, 3] (0..255) at input_size from build_dataset.

    Training-mode crops (random scale, crop, flip) of the split give calibration images of the
    export's input size that look like what the model sees.
    """
    import dataclasses
    from deeplab_tf.data.pipeline import build_dataset
    config = dataclasses.replace(data_config, crop_size=tuple(input_size), batch_size=1)
    dataset = build_dataset(config, split, training=True)
    for batch in dataset.take(count):
        yield batch["image"][0].numpy()


def representative_images_from_files(pattern, input_size, count=0):
    """Yields float images [H, W, 3] (0..255) read from files matching a glob, resized."""
    import glob
    import numpy as np
    from PIL import Image
    paths = sorted(glob.glob(pattern))
    if not paths:
        raise FileNotFoundError(f"--representative_images={pattern} matches no file")
    for path in paths[:count or None]:
        with Image.open(path) as image:
            image = image.convert("RGB").resize(tuple(input_size)[::-1], Image.BILINEAR)
            yield np.asarray(image, dtype=np.float32)


# ---------------------------------------------------------------------------------------------
# Entry point
# ---------------------------------------------------------------------------------------------
def define_flags():
    from absl import flags
    from deeplab_tf import flags as shared_flags
    shared_flags.define_model_flags()
    shared_flags.define_data_flags()
    flags.DEFINE_string("model", None, "A .keras model to export.")
    flags.DEFINE_string("checkpoint", None,
                        "Weights to export instead of --model (.weights.h5, .keras or a TF "
                        "checkpoint), into build_model(--preset, ...).")
    flags.DEFINE_enum("format", "saved_model", ["saved_model", "tflite"], "Export format.")
    flags.DEFINE_string("output", None, "Output SavedModel folder or .tflite file.")
    flags.DEFINE_boolean("overwrite", False, "Replace an existing --output.")
    flags.DEFINE_string("class_names_file", None,
                        "Class names, one per line (default: --dataset's when the count fits).")
    flags.DEFINE_integer("max_pixels", DEFAULT_MAX_PIXELS,
                         "SavedModel: refuse images with more than H*W pixels.")
    flags.DEFINE_list("input_size", ["513", "513"], "TFLite fixed input HEIGHT,WIDTH.")
    flags.DEFINE_enum("quantize", "none", list(QUANTIZE_MODES), "TFLite quantisation.")
    flags.DEFINE_boolean("argmax", False, "TFLite: output labels (ArgMax inside) only.")
    flags.DEFINE_enum("io_dtype", "float32", list(IO_DTYPES),
                      "int8 TFLite input/output type (uint8: raw pixels in).")
    flags.DEFINE_string("representative_split", "train",
                        "int8: split of --dataset/--data_dir the calibration images come from.")
    flags.DEFINE_string("representative_images", None,
                        "int8: a glob of image files to calibrate on instead of the pipeline.")
    flags.DEFINE_integer("num_calibration_images", 100, "int8: calibration images.")


def run(argv_flags):
    """Runs one export from parsed flags; returns the output path."""
    from deeplab_tf.config import from_flags
    f = argv_flags
    if not f.output:
        raise ValueError("--output is required")
    configs = from_flags(f)
    model = load_model(model_path=f.model, checkpoint=f.checkpoint,
                       model_config=configs.get("model"))
    num_classes = _check_model(model)
    if f.format == "saved_model":
        if f.class_names_file:
            names = read_class_names(f.class_names_file)
        else:
            names = dataset_class_names(f.dataset, num_classes)
        return export_saved_model(model, f.output, class_names=names, max_pixels=f.max_pixels,
                                  overwrite=f.overwrite)
    try:
        input_size = tuple(int(v) for v in f.input_size)
    except ValueError:
        raise ValueError(f"--input_size={','.join(f.input_size)} must be HEIGHT,WIDTH integers")
    representative = None
    if f.quantize == "int8":
        if f.representative_images:
            representative = representative_images_from_files(
                f.representative_images, input_size, f.num_calibration_images)
        elif f.data_dir:
            representative = representative_images_from_pipeline(
                configs["data"], f.representative_split, input_size, f.num_calibration_images)
    return export_tflite(model, f.output, overwrite=f.overwrite, input_size=input_size,
                         quantize=f.quantize, argmax=f.argmax, io_dtype=f.io_dtype,
                         representative_data=representative,
                         num_calibration_images=f.num_calibration_images)


def main(argv):
    from absl import flags
    if len(argv) > 1:
        sys.exit(f"export: error: unexpected arguments {argv[1:]}")
    try:
        path = run(flags.FLAGS)
    except (ValueError, FileNotFoundError, FileExistsError) as error:
        sys.exit(f"export: error: {error}")
    print(f"export: wrote {path}")


if __name__ == "__main__":
    from absl import app
    define_flags()
    app.run(main)

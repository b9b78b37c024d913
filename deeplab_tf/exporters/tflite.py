"""TFLite export: fixed input size, optional ArgMax inside, none/fp16/dynamic/int8.

One signature "serving_default": input "images" [1, H, W, 3] (float32 in 0..255, or uint8
raw pixels for an int8 model with uint8 I/O) -> "probabilities" [1, H, W, C] (float32, or
uint8 with scale 1/256 for uint8 I/O), or "labels" int32 [1, H, W] with argmax. The model's
ResizeBilinear layers lower to RESIZE_BILINEAR with align_corners=True, half_pixel_centers=False
(checked by tests/export/test_tflite.py on the flatbuffer).
"""
from deeplab_tf.exporters.common import (atomic_output, check_model, float32_model,
                                         tracked_variables)

QUANTIZE_MODES = ("none", "fp16", "dynamic", "int8")
IO_DTYPES = ("float32", "uint8")


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
                if count == 0:
                    # Pin the calibrated input range to the full 0..255 (one black and one white
                    # pixel), so a uint8 input is always raw pixels (scale 1, zero point 0)
                    # whatever the brightness of the calibration images.
                    single = single.copy()
                    single[0, 0], single[-1, -1] = 0.0, 255.0
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
    check_model(model)
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
    model = float32_model(model)
    function = _tflite_function(model, input_size, argmax)
    converter = tf.lite.TFLiteConverter.from_concrete_functions([function],
                                                                tracked_variables(model))
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


# Calibration images for int8 (export --quantize=int8, the latency benchmark).
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

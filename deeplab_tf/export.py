"""Export a DeepLab model: a SavedModel for TensorFlow Serving, a .tflite file for devices.

    python -m deeplab_tf.export --model=runs/train/model.keras --format=saved_model \
        --output=exported/deeplab
    python -m deeplab_tf.export --model=model.keras --format=onnx --output=deeplab.onnx
    python -m deeplab_tf.export --model=model.keras --format=tflite --quantize=int8 \
        --input_size=513,513 --argmax --io_dtype=uint8 \
        --dataset=voc2012 --data_dir=TFRECORDS --output=deeplab_int8.tflite

The SavedModel (deeplab_tf/exporters/saved_model.py) is servable by TensorFlow Serving as is:
"serving_default" takes uint8 images [B, H, W, 3] of any size, "serving_bytes" encoded images;
both return {"labels", "probabilities"} at the input size. The .tflite file
(deeplab_tf/exporters/tflite.py) has a fixed input size and optional ArgMax inside. The .onnx
file (deeplab_tf/exporters/onnx.py, for onnxruntime) has the SavedModel's conventions.

Every export is atomic: written into a temporary folder beside --output, then renamed, so an
interrupted export never leaves a half-written file or folder at --output.
"""
if __name__ == "__main__":   # before TensorFlow is imported: its C++ log lines
    from deeplab_tf.quiet import quiet
    quiet()
import os
import pathlib
import sys

from deeplab_tf.exporters.common import atomic_output, check_model
from deeplab_tf.exporters.onnx import INPUT_DTYPES as ONNX_INPUT_DTYPES
from deeplab_tf.exporters.onnx import export_onnx
from deeplab_tf.exporters.saved_model import (BYTES_KEY, CLASS_NAMES_ASSET, DEFAULT_MAX_PIXELS,
                                              SERVING_KEY, export_saved_model)
from deeplab_tf.exporters.tflite import (IO_DTYPES, QUANTIZE_MODES, convert_to_tflite,
                                         export_tflite, representative_images_from_files,
                                         representative_images_from_pipeline)

__all__ = ["atomic_output", "export_saved_model", "convert_to_tflite", "export_tflite",
           "export_onnx",
           "load_model", "representative_images_from_pipeline",
           "representative_images_from_files", "SERVING_KEY", "BYTES_KEY", "CLASS_NAMES_ASSET",
           "DEFAULT_MAX_PIXELS", "QUANTIZE_MODES", "IO_DTYPES"]


# ---------------------------------------------------------------------------------------------
# Inputs: models, class names, representative data
# ---------------------------------------------------------------------------------------------
def load_model(*, model_path=None, checkpoint=None, model_config=None):
    """A keras.Model from a .keras file (--model) or from --checkpoint: a training run folder,
    RUN/best, a TF checkpoint prefix, a .weights.h5 or a .keras file (deeplab_tf.restore).

    model_config (--preset, --num_classes, --output_stride, --model_overrides) is the
    architecture of a checkpoint or .weights.h5 with no model_signature.json beside it; with
    one, the signature names the architecture and model_config.output_stride, when set,
    rebuilds it at that stride.
    """
    from deeplab_tf.restore import restore_model
    if bool(model_path) == bool(checkpoint):
        raise ValueError("pass exactly one of --model=PATH.keras and --checkpoint=PATH")
    if model_path:
        if not os.path.isfile(model_path) or not str(model_path).endswith(".keras"):
            raise FileNotFoundError(f"--model={model_path} is not a .keras file")
        return restore_model(model_path, name=f"--model={model_path}")
    if model_config is None:
        return restore_model(checkpoint, name=f"--checkpoint={checkpoint}")
    return restore_model(checkpoint, output_stride=model_config.output_stride,
                         preset=model_config.preset, num_classes=model_config.num_classes,
                         overrides=model_config.overrides, name=f"--checkpoint={checkpoint}")


DEFAULT_TFLITE_INPUT_SIZE = (513, 513)   # the official eval crop, for models recording none


def recorded_input_size(model_path=None, checkpoint=None):
    """The model's own input size (H, W): the entry deeplab_tf.convert / train write into a
    .keras file (deeplab_tf.model_metadata), or "input_size" of the model_signature.json beside
    a training checkpoint; else DEFAULT_TFLITE_INPUT_SIZE with a note on stderr."""
    from deeplab_tf import model_metadata
    from deeplab_tf.training.checkpoints import read_signature
    size = None
    for path in (model_path, checkpoint):
        if path and str(path).endswith(".keras") and os.path.isfile(path):
            size = model_metadata.recorded_input_size(path)
    if size is None and checkpoint:
        folder = checkpoint if os.path.isdir(checkpoint) else os.path.dirname(checkpoint)
        size = tuple((read_signature(folder or ".") or {}).get("input_size") or ()) or None
    if size is None:
        size = DEFAULT_TFLITE_INPUT_SIZE
        print(f"export: {model_path or checkpoint} records no input size; the TFLite input is "
              f"{size[0]}x{size[1]} (pass --input_size=H,W for another)", file=sys.stderr)
    return tuple(int(v) for v in size)


def read_class_names(path):
    names = [line.strip() for line in pathlib.Path(path).read_text().splitlines() if line.strip()]
    if not names:
        raise ValueError(f"--class_names_file={path} holds no class names")
    return names


def dataset_class_names(dataset, num_classes):
    """The class names of --dataset (deeplab_tf.data.datasets); clear error on a mismatch."""
    from deeplab_tf.data.datasets import get_dataset
    names = list(get_dataset(dataset).class_names)
    if len(names) != num_classes:
        raise ValueError(f"--dataset={dataset} has {len(names)} classes but the model has "
                         f"{num_classes}: pass --class_names_file or the right --dataset")
    return names


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
                        "Weights to export instead of --model (.weights.h5, .keras, a TF "
                        "checkpoint, a training run folder or RUN/best), into "
                        "build_model(--preset, ...) or the run's model_signature.json.")
    flags.DEFINE_enum("format", "saved_model", ["saved_model", "tflite", "onnx"],
                      "Export format.")
    flags.DEFINE_string("output", None, "Output SavedModel folder, .tflite or .onnx file.")
    flags.DEFINE_enum("onnx_input_dtype", "uint8", list(ONNX_INPUT_DTYPES),
                      "ONNX: dtype of the images input (pixels 0..255 either way).")
    flags.DEFINE_boolean("overwrite", False, "Replace an existing --output.")
    flags.DEFINE_string("class_names_file", None,
                        "Class names, one per line (default: --dataset's when --dataset is "
                        "given, else class_0, class_1, ...).")
    flags.DEFINE_integer("max_pixels", DEFAULT_MAX_PIXELS,
                         "SavedModel: refuse images with more than H*W pixels.")
    flags.DEFINE_list("input_size", None, "TFLite fixed input HEIGHT,WIDTH (default: the "
                      "model's own, recorded at conversion or training, else 513,513).")
    flags.DEFINE_enum("quantize", "none", list(QUANTIZE_MODES), "TFLite quantisation.")
    flags.DEFINE_boolean("argmax", False, "TFLite: output labels (ArgMax inside) only.")
    flags.DEFINE_enum("io_dtype", "float32", list(IO_DTYPES),
                      "int8 TFLite input/output type (uint8: raw pixels in).")
    flags.DEFINE_string("representative_split", "train",
                        "int8: split of --dataset/--data_dir the calibration images come from.")
    flags.DEFINE_string("representative_images", None,
                        "int8: a glob of image files to calibrate on instead of the pipeline.")
    flags.DEFINE_integer("num_calibration_images", 100, "int8: calibration images.")


def _validate(f):
    """Checks the flags that need no model, so bad flags fail before anything is loaded."""
    if not f.output:
        raise ValueError("--output is required")
    if bool(f.model) == bool(f.checkpoint):
        raise ValueError("pass exactly one of --model=PATH.keras and --checkpoint=PATH")
    if os.path.exists(f.output) and not f.overwrite:
        raise FileExistsError(f"--output={f.output} already exists (pass --overwrite to "
                              "replace it)")
    if f.model and (not os.path.isfile(f.model) or not f.model.endswith(".keras")):
        raise FileNotFoundError(f"--model={f.model} is not a .keras file")
    if f.max_pixels <= 0:
        raise ValueError(f"--max_pixels={f.max_pixels} must be positive")
    if f.num_calibration_images < 1:
        raise ValueError(f"--num_calibration_images={f.num_calibration_images} must be >= 1")
    if f.class_names_file and not os.path.isfile(f.class_names_file):
        raise FileNotFoundError(f"--class_names_file={f.class_names_file} does not exist")
    if f.input_size is None:
        input_size = None   # the model's own: recorded_input_size
    else:
        try:
            input_size = tuple(int(v) for v in f.input_size)
        except ValueError:
            input_size = ()
    if input_size is not None and (len(input_size) != 2 or min(input_size) <= 0):
        raise ValueError(f"--input_size={','.join(f.input_size)} must be HEIGHT,WIDTH "
                         "(two positive integers)")
    if f.format == "tflite" and f.io_dtype != "float32" and f.quantize != "int8":
        raise ValueError(f"--io_dtype={f.io_dtype} needs --quantize=int8 (got {f.quantize})")
    if f.format == "tflite" and f.quantize == "int8" and not (
            f.representative_images or f.data_dir):
        raise ValueError("--quantize=int8 needs representative data to calibrate activation "
                         "ranges: pass --dataset and --data_dir (calibration crops drawn from "
                         "the data pipeline) or --representative_images=GLOB")
    if f.format == "onnx" and (f.quantize != "none" or f.argmax):
        raise ValueError("--quantize and --argmax apply to --format=tflite only (the ONNX "
                         "graph returns both labels and probabilities in float32)")
    if f.format == "saved_model" and (f.quantize != "none" or f.argmax):
        raise ValueError("--quantize and --argmax apply to --format=tflite only (the "
                         "SavedModel returns both labels and probabilities in float32)")
    return input_size


def run(f):
    """Runs one export from parsed flags (absl FLAGS); returns the output path."""
    from deeplab_tf.config import from_flags
    input_size = _validate(f)
    configs = from_flags(f)
    model = load_model(model_path=f.model, checkpoint=f.checkpoint,
                       model_config=configs.get("model"))
    num_classes = check_model(model)
    if f.format == "saved_model":
        names = None  # default: class_0 .. class_{C-1}
        if f.class_names_file:
            names = read_class_names(f.class_names_file)
        elif f["dataset"].present:
            names = dataset_class_names(f.dataset, num_classes)
        return export_saved_model(model, f.output, class_names=names, max_pixels=f.max_pixels,
                                  overwrite=f.overwrite)
    if f.format == "onnx":
        return export_onnx(model, f.output, overwrite=f.overwrite,
                           input_dtype=f.onnx_input_dtype)
    if input_size is None:
        input_size = recorded_input_size(f.model, f.checkpoint)
    representative = None
    if f.quantize == "int8":
        if f.representative_images:
            representative = representative_images_from_files(
                f.representative_images, input_size, f.num_calibration_images)
        else:
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
    from absl import logging
    logging.set_verbosity(logging.WARNING)  # TF's INFO lines would bury the result line
    try:
        path = run(flags.FLAGS)
    except (ValueError, FileNotFoundError, FileExistsError) as error:
        sys.exit(f"export: error: {error}")
    print(f"export: wrote {path}")


if __name__ == "__main__":
    from absl import app
    define_flags()
    app.run(main)

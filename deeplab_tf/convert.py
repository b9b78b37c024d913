"""Converts official DeepLab weights (TFLite files, TF1 model zoo checkpoints) to .keras models.

  python -m deeplab_tf.convert --source=official_tflite \
      --input=../shared/data/official/deeplabv3_257_mv_gpu.tflite --output=mnv2_dm05.keras
  python -m deeplab_tf.convert --source=official_checkpoint \
      --input=deeplabv3_mnv2_pascal_train_aug_2018_01_29.tar.gz --output=mnv2.keras

The backbone, depth multiplier, output stride, number of classes and input size are read from
the file (deeplab_tf/weights/architecture.py); --preset and --output_stride override them.
--input may also name an official file (deeplab_tf/weights/download.py), fetched into the
cache. The saved model takes images in 0..255 (preprocessing inside) and returns logits; the
official file's input size is recorded in it (deeplab_tf.model_metadata), so `export
--format=tflite` writes a file of that size by default.
"""
if __name__ == "__main__":   # before TensorFlow is imported: its C++ log lines
    from deeplab_tf.quiet import quiet
    quiet()
import json
import pathlib
import sys
import time

from absl import app, flags

SOURCES = ("official_tflite", "official_checkpoint")

flags.DEFINE_enum("source", None, SOURCES, "Kind of the input file.")
flags.DEFINE_string("input", None, "TFLite file, checkpoint prefix/folder/tarball, or the name "
                    "of an official file to download.")
flags.DEFINE_string("output", None, "Output .keras file.")
flags.DEFINE_string("preset", None, "Preset to build (default: read from the file).")
flags.DEFINE_integer("output_stride", None, "Output stride of the built model (default: read "
                     "from the file; the preset's for checkpoints).")
flags.DEFINE_string("cache_dir", None, "Download cache (default $DEEPLAB_TF_CACHE or "
                    "~/.cache/deeplab_tf).")
flags.DEFINE_string("sha256", None, "Expected sha256 of an --input downloaded by name "
                    "(default: the recorded one, else the first download's).")
FLAGS = flags.FLAGS


def read_source(source, path):
    """OfficialWeights from a file of the given source kind."""
    if source == "official_tflite":
        from deeplab_tf.weights.tflite_reader import read_tflite
        return read_tflite(path)
    from deeplab_tf.weights.checkpoint_reader import read_checkpoint
    return read_checkpoint(path)


def convert(source, path, output=None, preset=None, output_stride=None):
    """Builds the model an official file describes and loads its weights
    (deeplab_tf.pretrained, the code behind build_model(weights=...)).

    Returns:
      (keras.Model, Architecture, seconds taken).
    Raises:
      ValueError (OfficialWeightsError) when the file does not fit.
    """
    from deeplab_tf.pretrained import build_from_weights
    from deeplab_tf.weights.architecture import infer_architecture

    start = time.perf_counter()
    weights = read_source(source, path)
    arch = infer_architecture(weights)
    model = build_from_weights(preset, weights, name=str(path), output_stride=output_stride)
    if output:
        from deeplab_tf.model_metadata import save_model
        pathlib.Path(output).parent.mkdir(parents=True, exist_ok=True)
        save_model(model, output, input_size=arch.input_size)
    return model, arch, time.perf_counter() - start


def _resolve_input(value, cache_dir, sha256=None):
    if pathlib.Path(value).exists():
        return value
    from deeplab_tf.weights.download import OFFICIAL_FILES, fetch
    if value in OFFICIAL_FILES:
        return str(fetch(value, cache=cache_dir, sha256=sha256))
    raise FileNotFoundError(f"--input={value!r}: no such file, and not an official file name "
                            f"({', '.join(sorted(OFFICIAL_FILES))})")


def main(argv):
    del argv
    for name in ("source", "input", "output"):
        if not getattr(FLAGS, name):
            sys.exit(f"convert: error: --{name} is required")
    if not FLAGS.output.endswith(".keras"):
        sys.exit(f"convert: error: --output={FLAGS.output!r} must end in .keras")
    try:
        path = _resolve_input(FLAGS.input, FLAGS.cache_dir, FLAGS.sha256)
        _, arch, seconds = convert(FLAGS.source, path, FLAGS.output, FLAGS.preset,
                                   FLAGS.output_stride)
    except (ValueError, OSError, RuntimeError) as error:
        sys.exit(f"convert: error: {error}")
    print(json.dumps({"output": FLAGS.output, "preset": FLAGS.preset or arch.preset,
                      "num_classes": arch.num_classes,
                      "output_stride": FLAGS.output_stride or arch.output_stride,
                      "input_size": arch.input_size, "depth_multiplier": arch.depth_multiplier,
                      "seconds": round(seconds, 2)}))


if __name__ == "__main__":
    app.run(main)

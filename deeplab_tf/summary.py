"""Model zoo summary: parameters and multiply-adds of the presets.

    python -m deeplab_tf.summary --preset=deeplabv3plus_xception65 --crop_size=513,513 \
        --output_stride=16 --json
    python -m deeplab_tf.summary                # a table of every preset

In the table of every preset, --output_stride applies to the presets that have it; the ones
whose architecture fixes it (FCN, SegNet: 32; Dilation: 8) are counted at theirs (each row
names its output stride).

The model is built at [1, H, W, 3] and counted from its layers' static shapes (no forward
pass). What is counted: see deeplab_tf/models/summary.py. With --json one object
{"preset", "params", "multiply_adds", "crop_size", "output_stride", ...} (a list of them
without --preset).
"""
if __name__ == "__main__":   # before TensorFlow is imported: its C++ log lines
    from deeplab_tf.quiet import quiet
    quiet()
import json
import sys

from absl import app, flags

from deeplab_tf.flags import parse_size

FLAGS = flags.FLAGS
flags.DEFINE_string("preset", None, "Preset name (default: every preset, as a table).")
flags.DEFINE_list("crop_size", ["513", "513"], "Input HEIGHT,WIDTH (or one number for both).")
flags.DEFINE_integer("output_stride", None, "8, 16 or 32 (default: the preset's).")
flags.DEFINE_integer("num_classes", None, "Number of classes (default: the preset's, 21).")
flags.DEFINE_boolean("json", False, "Print JSON instead of a table.")


def _table(rows):
    lines = [f"{'preset':32s} {'OS':>3s} {'crop':>9s} {'params':>10s} {'multiply-adds':>14s}"]
    for r in rows:
        crop = "x".join(str(c) for c in r["crop_size"])
        lines.append(f"{r['preset']:32s} {r['output_stride']:3d} {crop:>9s} "
                     f"{r['params'] / 1e6:9.2f}M {r['multiply_adds'] / 1e9:13.2f}B")
    return "\n".join(lines)


def main(argv):
    if len(argv) > 1:
        print(f"summary: error: unexpected arguments {argv[1:]}", file=sys.stderr)
        return 2
    import os
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from deeplab_tf.models.presets import PRESETS
    from deeplab_tf.models.summary import summarize
    try:
        crop = parse_size(FLAGS.crop_size, "crop_size", allow_square=True)
        if FLAGS.preset is not None and FLAGS.preset not in PRESETS:
            raise ValueError(f"--preset={FLAGS.preset!r} is unknown; allowed: {sorted(PRESETS)}")
        names = [FLAGS.preset] if FLAGS.preset else sorted(PRESETS)
        import keras
        from deeplab_tf.models.builder import model_info
        rows = []
        for name in names:
            stride = FLAGS.output_stride
            if not FLAGS.preset and stride not in model_info(name)["backbone"].output_strides:
                stride = None   # FCN / SegNet / Dilation: the one stride they have (the row says)
            rows.append(summarize(name, crop_size=crop, output_stride=stride,
                                  num_classes=FLAGS.num_classes))
            keras.backend.clear_session()  # frees the 513x513 graph before the next preset
    except ValueError as e:
        print(f"summary: error: {e}", file=sys.stderr)
        return 1
    if FLAGS.json:
        print(json.dumps(rows[0] if FLAGS.preset else rows))
    else:
        print(_table(rows))
    return 0


if __name__ == "__main__":
    app.run(main)

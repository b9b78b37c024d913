r"""Benchmarks: model latency per runtime, and input-pipeline throughput.

  python -m deeplab_tf.benchmark --what=latency,pipeline --threads=2 \
      --official_dir=../shared/data/official --voc_dir=../shared/data/voc

Sub-benchmarks (--what, comma separated):
  latency   median milliseconds of one 513x513 image (--size) through Keras, the exported
            SavedModel, our TFLite float file and our int8 file (uint8 I/O, ArgMax inside, as
            the official int8 file), for each --presets entry; and the official TFLite files
            in --official_dir under the same LiteRT thread count. deeplabv3_mobilenetv2 uses
            the converted official weights when the official int8 file is there (so "our int8"
            is our export of the official model); other presets use initial weights (latency
            does not depend on them). Every model is loaded and run through
            deeplab_tf.inference (the one way the evaluator runs them); "invoke_ms" is the
            LiteRT invoke alone. Ratios are against the official int8 file, measured in the
            same run; with tflite_float, our float export of the converted official float file
            (257x257) is also timed against that file.
  pipeline  training input pipeline images/s (deeplab_tf.benchmarks.pipeline): --voc_dir images
            repeated to --pipeline_images records (or --pipeline_data_dir's prepared train
            split), --size crops.
  training  compiled train step images/s at --training_crop (default 321) for each
            --training_configs entry PRESET:OUTPUT_STRIDE:BATCH (default deeplabv3_resnet50 at
            OS8 batch 4 and deeplabv3plus_mobilenetv2 at OS16 batch 8, the issue's rows) x
            --training_precisions x --training_xla, one process per configuration
            (deeplab_tf.benchmarks.training_speed: the Keras precision policy is global). With
            --torchvision_python=PYTHON (an interpreter with torch and torchvision), the
            issue's reference, torchvision's deeplabv3_resnet50, is timed the same way in the
            same run for each deeplabv3_resnet50 OS8 entry (float32 for "none", bfloat16
            autocast for the mixed precisions; deeplab_tf/benchmarks/torchvision_reference.py),
            and each of our rows gets its ratio to it.
  crf       DenseCRF seconds per 500x375 image (21 classes, 10 mean-field iterations) with the
            v2 ResNet-101 and VGG-16 parameters, one process, and the images/s of a pool of
            --threads processes (deeplab_tf.postprocess.crf.CRFRefiner). Images (and soft
            unaries from their ground truth) come from --voc_dir, or are synthetic without it
            (deeplab_tf.benchmarks.crf).

This module is the CLI only (flags, dispatch, tables, JSON); the measurements are the
deeplab_tf.benchmarks package. Results are printed as a table and written as JSON to
--output_json when given.
"""
if __name__ == "__main__":   # before TensorFlow is imported: its C++ log lines
    from deeplab_tf.quiet import quiet
    quiet()
import json
import os
import sys
import tempfile

from absl import app, flags

from deeplab_tf.benchmarks import training_speed as speed
from deeplab_tf.benchmarks.latency import RUNTIMES, latency, latency_table

SUB_BENCHMARKS = ("latency", "pipeline", "training", "crf")


def define_flags():
    """Flags of this entry point (defined only when it runs, so importing it is free)."""
    flags.DEFINE_list("what", ["latency"], f"Sub-benchmarks to run: {', '.join(SUB_BENCHMARKS)}.")
    flags.DEFINE_list("presets", ["deeplabv3_mobilenetv2", "deeplabv3plus_xception65"],
                      "Presets timed by the latency benchmark.")
    flags.DEFINE_list("runtimes", list(RUNTIMES), f"Runtimes timed: {', '.join(RUNTIMES)}.")
    flags.DEFINE_integer("size", 513, "Square input size of the latency benchmark.")
    flags.DEFINE_integer("threads", 2, "TF intra-op threads and LiteRT threads.")
    flags.DEFINE_integer("runs", 20, "Timed runs per model (the median is reported).")
    flags.DEFINE_integer("warmup", 3, "Untimed runs first.")
    flags.DEFINE_string("official_dir", None, "Folder with the official TFLite files.")
    flags.DEFINE_string("voc_dir", None, "Raw VOC folder: int8 calibration crops come from the "
                        "data pipeline over it (default: random images) and the pipeline "
                        "benchmark repeats its images.")
    flags.DEFINE_integer("calibration_images", 8, "int8 calibration images.")
    flags.DEFINE_string("work_dir", None,
                        "Where exports are written (default: a temporary folder).")
    flags.DEFINE_string("output_json", None, "Write the results here as JSON.")
    flags.DEFINE_integer("pipeline_images", 256, "pipeline: records made from --voc_dir images.")
    flags.DEFINE_string("pipeline_data_dir", None, "pipeline: a prepared TFRecord folder whose "
                        "train split is read instead of records made for the run.")
    flags.DEFINE_integer("pipeline_batch_size", 8, "pipeline: batch size.")
    flags.DEFINE_integer("pipeline_batches", 50, "pipeline: batches per timed run.")
    flags.DEFINE_integer("pipeline_runs", 5, "pipeline: timed runs (median reported).")
    flags.DEFINE_list("training_configs",
                      ["deeplabv3_resnet50:8:4", "deeplabv3plus_mobilenetv2:16:8"],
                      "training: PRESET:OUTPUT_STRIDE:BATCH entries.")
    flags.DEFINE_list("training_precisions", ["none", "mixed_bfloat16"],
                      "training: Keras precision policies (none = float32).")
    flags.DEFINE_list("training_xla", ["off", "on"], "training: XLA modes timed (off, on).")
    flags.DEFINE_integer("training_crop", 321, "training: square crop.")
    flags.DEFINE_integer("training_steps", 3, "training: timed steps after the traced one.")
    flags.DEFINE_string("torchvision_python", None,
                        "training: a Python with torch and torchvision; also times torchvision's "
                        "deeplabv3_resnet50 in this run (the issue's reference).")
    flags.DEFINE_integer("crf_images", 8, "crf: images refined per measurement.")


FLAGS = flags.FLAGS


# ---------------------------------------------------------------------------------------------
# Entry point
# ---------------------------------------------------------------------------------------------
def _check_flags():
    unknown = sorted(set(FLAGS.what) - set(SUB_BENCHMARKS))
    if unknown or not FLAGS.what:
        raise ValueError(f"--what={','.join(FLAGS.what)}; allowed: {', '.join(SUB_BENCHMARKS)}")
    unknown = sorted(set(FLAGS.runtimes) - set(RUNTIMES))
    if unknown:
        raise ValueError(f"--runtimes has {unknown}; allowed: {', '.join(RUNTIMES)}")
    import deeplab_tf
    unknown = sorted(set(FLAGS.presets) - set(deeplab_tf.list_presets()))
    if unknown:
        raise ValueError(f"--presets has unknown {unknown}; see deeplab_tf.list_presets()")
    for name in ("size", "threads", "runs", "pipeline_images", "pipeline_batch_size",
                 "pipeline_batches", "pipeline_runs"):
        if getattr(FLAGS, name) <= 0:
            raise ValueError(f"--{name}={getattr(FLAGS, name)} must be positive")
    unknown = sorted({p for p, _, _ in speed.parse_configs(FLAGS.training_configs)}
                     - set(deeplab_tf.list_presets()))
    if unknown:
        raise ValueError(f"--training_configs has unknown presets {unknown}; see "
                         "deeplab_tf.list_presets()")
    unknown = sorted(set(FLAGS.training_xla) - {"off", "on"})
    if unknown:
        raise ValueError(f"--training_xla has {unknown}; allowed: off, on")
    from deeplab_tf.training.precision import POLICIES
    unknown = sorted(set(FLAGS.training_precisions) - set(POLICIES))
    if unknown:
        raise ValueError(f"--training_precisions has {unknown}; allowed: {', '.join(POLICIES)}")
    for name in ("training_crop", "training_steps", "crf_images"):
        if getattr(FLAGS, name) <= 0:
            raise ValueError(f"--{name}={getattr(FLAGS, name)} must be positive")
    python = FLAGS.torchvision_python
    if python and not (os.path.isfile(python) and os.access(python, os.X_OK)):
        raise FileNotFoundError(f"--torchvision_python={python} is not an executable file "
                                "(expected a Python interpreter with torch and torchvision)")
    for name in ("official_dir", "voc_dir", "pipeline_data_dir"):
        if getattr(FLAGS, name) and not os.path.isdir(getattr(FLAGS, name)):
            raise FileNotFoundError(f"--{name}={getattr(FLAGS, name)} is not a folder")


def main(argv):
    if len(argv) > 1:
        sys.exit(f"benchmark: error: unexpected arguments {argv[1:]}")
    try:
        _check_flags()
    except (ValueError, FileNotFoundError) as error:
        sys.exit(f"benchmark: error: {error}")
    from absl import logging
    logging.set_verbosity(logging.WARNING)  # TF's INFO lines would bury the table
    import tensorflow as tf
    # Same thread count for TF (Keras, SavedModel) as for LiteRT.
    tf.config.threading.set_intra_op_parallelism_threads(FLAGS.threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    results = {"command": " ".join(["python -m deeplab_tf.benchmark", *sys.argv[1:]]),
               "cpus": os.cpu_count(), "threads": FLAGS.threads,
               "load_average_at_start": os.getloadavg()}
    with tempfile.TemporaryDirectory() as tmp:
        work_dir = FLAGS.work_dir or tmp
        os.makedirs(work_dir, exist_ok=True)
        if "latency" in FLAGS.what:
            rows = latency(FLAGS.presets, FLAGS.runtimes, FLAGS.size, FLAGS.threads, FLAGS.runs,
                           FLAGS.warmup, FLAGS.official_dir, FLAGS.voc_dir,
                           FLAGS.calibration_images, work_dir)
            results["latency"] = rows
            print(latency_table(rows))
            for row in rows:
                if "head_to_head_ratio" in row:
                    pair = row["head_to_head_invoke_ms"]
                    print(f"{row['model']} int8 vs official int8, invokes alternated: "
                          f"{pair['ours']:.1f} ms vs {pair['official']:.1f} ms "
                          f"({row['head_to_head_ratio']:.2f}x)")
                if "ratio_vs_official_float" in row:
                    print(f"{row['model']}: {row['ratio_vs_official_float']:.2f}x the official "
                          f"float file (invoke {row['invoke_ratio_vs_official_float']:.2f}x)")
        if "pipeline" in FLAGS.what:
            from deeplab_tf.benchmarks.pipeline import pipeline_throughput
            results["pipeline"] = pipeline_throughput(
                FLAGS.pipeline_data_dir, voc_dir=FLAGS.voc_dir, num_images=FLAGS.pipeline_images,
                crop_size=(FLAGS.size, FLAGS.size), batch_size=FLAGS.pipeline_batch_size,
                num_batches=FLAGS.pipeline_batches, warmup_batches=min(10, FLAGS.pipeline_batches),
                runs=FLAGS.pipeline_runs)
            p = results["pipeline"]
            print(f"pipeline: {p['median']:.1f} images/s (median of "
                  f"{', '.join(f'{r:.1f}' for r in p['runs'])}), crop {p['crop_size']}, batch "
                  f"{p['batch_size']}, source {p['source']}; {p['cpu_ms_per_image']:.2f} CPU "
                  f"ms/image = {p['cpu_bound_images_per_second']:.0f} images/s on {p['cpus']} "
                  "free cores")
        if "training" in FLAGS.what:
            rows = speed.measure_configs(
                speed.parse_configs(FLAGS.training_configs), FLAGS.training_precisions,
                FLAGS.training_xla, FLAGS.training_crop, FLAGS.training_steps)
            if FLAGS.torchvision_python:
                reference = speed.torchvision_reference(
                    FLAGS.torchvision_python, speed.parse_configs(FLAGS.training_configs),
                    FLAGS.training_precisions, FLAGS.training_crop, FLAGS.training_steps,
                    FLAGS.threads)
                speed.add_torchvision_ratios(rows, reference)
                rows = rows + reference
            results["training"] = rows
            print(speed.speed_table(rows))
        if "crf" in FLAGS.what:
            from deeplab_tf.benchmarks.crf import crf
            results["crf"] = crf(FLAGS.voc_dir, FLAGS.crf_images, FLAGS.threads)
            for row in results["crf"]:
                print(f"crf {row['parameters']} params, {row['size']}: "
                      f"{row['serial_cpu_seconds_median']:.2f} CPU s/image serial; pool of "
                      f"{row['pool_processes']}: {row['pool_images_per_second']:.2f} images/s")
    results["load_average_at_end"] = os.getloadavg()
    print(f"load average at start {results['load_average_at_start']}, at end "
          f"{results['load_average_at_end']}")
    if FLAGS.output_json:
        with open(FLAGS.output_json, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    define_flags()
    app.run(main)

"""Segment images: a class-index PNG and a colour overlay per image.

    python -m deeplab_tf.predict --model=deeplab.keras|SAVED_MODEL|model.tflite \
        --images='photos/*.jpg' --output_dir=out [--crf] [--eval_scales=...] \
        [--add_flipped_images] [--dataset=voc2012] [--tile=513,513] [--tile_overlap=0.33]

For each input NAME.EXT writes, in --output_dir:
  NAME.png          mode "P" (the dataset palette) with the class index in every pixel, the
                    size of the input image (PIL reads the indices back with np.asarray);
  NAME_overlay.png  the photo blended with the colour mask;
  NAME_panel.png    image | prediction | CRF (with --panels).
Probabilities come from deeplab_tf.inference (pad to OS*k+1, multi-scale + flip, crop back);
images above --tile_above_pixels run in overlapping tiles (deeplab_tf.tiling) in bounded memory;
--crf refines them with the DenseCRF of deeplab_tf.postprocess.crf in a process pool.
"""
if __name__ == "__main__":   # before TensorFlow is imported: its C++ log lines
    from deeplab_tf.quiet import quiet
    quiet()
import glob
import os
import sys

import numpy as np
from absl import app, flags

FLAGS = flags.FLAGS


def define_flags():
    """Defined only when run as a program (importing the module leaves absl FLAGS alone)."""
    def define(kind, name, default, *args):
        if name not in FLAGS:
            getattr(flags, f"DEFINE_{kind}")(name, default, *args)
    define("string", "model", None, "A .keras file, a SavedModel folder, a training run folder "
           "(RUN, or RUN/best: the best evaluation) or a .tflite file.")
    define("string", "images", None, "Glob of input images (quote it), or one file.")
    define("string", "output_dir", None, "Where the masks and overlays go.")
    define("boolean", "crf", False, "Refine with the fully connected CRF.")
    define("list", "eval_scales", ["1.0"], "Input scales whose probabilities are averaged.")
    define("boolean", "add_flipped_images", False, "Also average left-right flipped inputs.")
    define("integer", "output_stride", None, "Rebuild a .keras model at this output stride.")
    define("string", "preset", None, "Preset of a .keras model (for --output_stride).")
    define("string", "dataset", "voc2012", "Dataset whose palette and class names to use (a "
           "built-in name or a dataset.json path).")
    define("integer", "batch_size", 4, "Images per model call.")
    define("integer", "crf_processes", 0, "CRF worker processes (0: one per CPU core).")
    define("boolean", "panels", False, "Also write NAME_panel.png (image | prediction | CRF).")
    define("boolean", "save_label_ids", False, "Also write the evaluation server's files into "
           "OUTPUT/label_ids/: Cityscapes NAME_labelIds.png (official label ids), VOC palette "
           "PNGs of the class indices.")
    define("boolean", "skip_bad_images", False, "Skip unreadable images (listed at the end) "
           "instead of stopping at the first one.")
    define("integer", "max_pixels", DEFAULT_MAX_PIXELS, "With --tile=0 (whole images), refuse "
           "images with more pixels than this (memory: about 0.65 GB per megapixel).")
    define("enum", "tflite_input_range", "auto", ["auto", "0_255", "minus_one_to_one"],
           "Input range of a float .tflite (auto: official files take [-1, 1]).")
    from deeplab_tf import flags as common_flags
    common_flags.define_tiling_flags()


# One whole-image pass needs about 0.65 GB per megapixel at one scale (measured: a 4000x3000
# photo peaks at 7.8 GB): without tiling (--tile=0) larger images are refused rather than
# exhausting memory; with tiling (the default) they run in tiles.
DEFAULT_MAX_PIXELS = 3000 * 3000


class UnreadableImage(ValueError):
    """An input image cannot be decoded, or is larger than --max_pixels; names the file."""


def read_image(path, max_pixels=None):
    """uint8 [H, W, 3] RGB; UnreadableImage naming the file otherwise. The size is checked
    from the header, before the pixels are decoded."""
    from PIL import Image
    try:
        with Image.open(path) as image:
            width, height = image.size
            if max_pixels and width * height > max_pixels:
                raise UnreadableImage(
                    f"{path}: {width}x{height} ({width * height / 1e6:.1f} megapixels) is above "
                    f"--max_pixels={max_pixels} (one pass needs about 0.65 GB per megapixel); "
                    "tile it (--tile), resize it or pass a larger --max_pixels")
            return np.asarray(image.convert("RGB"))
    except UnreadableImage:
        raise
    except Exception as error:  # PIL raises several types for unreadable files
        raise UnreadableImage(f"{path}: not a readable image ({error})") from None


def predict_files(predictor, paths, output_dir, *, colours, names=None, crf_params=None,
                  crf_processes=None, eval_scales=(1.0,), add_flipped_images=False,
                  batch_size=4, pad_multiple=16, panels=False, progress=True,
                  max_pixels=DEFAULT_MAX_PIXELS, skipped=None, tiling=None,
                  label_ids_dataset=None):
    """Writes NAME.png (class indices) and NAME_overlay.png per path; returns the written
    mask paths. With a list `skipped`, unreadable (or too large) images are appended to it as
    (path, reason) and the others still run; without it the first one is an error.
    tiling: a deeplab_tf.tiling.Tiling (large images run in tiles; max_pixels is then not
    applied), or None: whole images, those above max_pixels refused.
    label_ids_dataset: also write the evaluation server's file of each image into
    OUTPUT/label_ids/ (deeplab_tf.server_formats: Cityscapes *_labelIds.png, VOC palette
    PNGs)."""
    from PIL import Image
    from tqdm import tqdm
    from deeplab_tf import inference, server_formats, viz
    from deeplab_tf.paths import inside
    from deeplab_tf.postprocess import crf as crf_lib
    label_ids_dir = os.path.join(output_dir, "label_ids")
    if label_ids_dataset:
        server_formats.check_dataset(label_ids_dataset)
        os.makedirs(label_ids_dir, exist_ok=True)
    if crf_params is not None and predictor.output == inference.LABELS:
        raise ValueError(f"--crf needs probabilities; {predictor.path} outputs labels only")
    stems = [os.path.splitext(os.path.basename(p))[0] for p in paths]
    if len(set(stems)) != len(stems):
        dup = next(s for s in stems if stems.count(s) > 1)
        raise ValueError(f"two input images share the name {dup!r}; their masks would "
                         "overwrite each other")
    os.makedirs(output_dir, exist_ok=True)
    refiner = crf_lib.CRFRefiner(crf_params, crf_processes) if crf_params else None
    written = []
    try:
        with tqdm(total=len(paths), unit="img", desc="predict", disable=not progress) as bar:
            for start in range(0, len(paths), batch_size):
                chunk, images = [], []
                for path in paths[start:start + batch_size]:
                    try:
                        images.append(read_image(path, None if tiling else max_pixels))
                        chunk.append(path)
                    except UnreadableImage as error:
                        if skipped is None:
                            raise
                        skipped.append((path, str(error)))
                if not chunk:
                    bar.update(len(paths[start:start + batch_size]))
                    continue
                if refiner is None:   # labels only: tiled images never hold probabilities
                    probs = None
                    labels = inference.predict_labels(predictor, images, eval_scales,
                                                      add_flipped_images, batch_size, pad_multiple,
                                                      tiling=tiling)
                else:
                    probs = inference.predict_probabilities(
                        predictor, images, eval_scales, add_flipped_images, batch_size,
                        pad_multiple, tiling=tiling)
                    labels = [p.argmax(-1) for p in probs]
                refined = [None] * len(chunk)
                if refiner:
                    refined = [q.argmax(-1) for q in refiner.refine(images, probs)]
                for path, image, plain, crf_out in zip(chunk, images, labels, refined):
                    stem = inside(output_dir, os.path.splitext(os.path.basename(path))[0])
                    final = plain if crf_out is None else crf_out
                    written.append(viz.save_index_png(final, stem + ".png", colours))
                    if label_ids_dataset:
                        server_formats.save_label_ids(final, inside(
                            label_ids_dir, os.path.basename(stem)), label_ids_dataset)
                    Image.fromarray(viz.overlay(image, final, colours)).save(
                        stem + "_overlay.png")
                    if panels:
                        viz.panel(image, plain, stem + "_panel.png", colours, names,
                                  crf=crf_out, title=os.path.basename(path))
                bar.update(len(paths[start:start + batch_size]))
    finally:
        if refiner:
            refiner.close()
    return written


def main(argv):
    del argv
    try:
        run()
    except (ValueError, FileNotFoundError, OSError) as error:
        sys.exit(f"predict: error: {error}")


def run():
    from deeplab_tf import inference, tiling, viz
    from deeplab_tf.postprocess import crf as crf_lib
    for name in ("model", "images", "output_dir"):
        if not FLAGS[name].value:
            sys.exit(f"predict: error: --{name} is required")
    for name in ("batch_size", "max_pixels"):
        if FLAGS[name].value < 1:
            sys.exit(f"predict: error: --{name}={FLAGS[name].value} must be >= 1")
    if FLAGS.save_label_ids:
        from deeplab_tf import server_formats
        try:
            server_formats.check_dataset(FLAGS.dataset)
        except ValueError as error:
            sys.exit(f"predict: error: {error}")
    if os.path.exists(FLAGS.output_dir) and not os.path.isdir(FLAGS.output_dir):
        sys.exit(f"predict: error: --output_dir={FLAGS.output_dir} is an existing file")
    tiles = tiling.from_flag_values(FLAGS.tile, FLAGS.tile_overlap, FLAGS.tile_above_pixels)
    paths = sorted(glob.glob(FLAGS.images)) if any(c in FLAGS.images for c in "*?[") else (
        [FLAGS.images] if os.path.isfile(FLAGS.images) else [])
    if not paths:
        sys.exit(f"predict: error: --images={FLAGS.images} matches no file")
    predictor = inference.load_predictor(FLAGS.model, tflite_input_range=FLAGS.tflite_input_range)
    if FLAGS.output_stride:
        if predictor.kind != "keras":
            sys.exit(f"predict: error: --output_stride needs a .keras model; {FLAGS.model} is a "
                     f"{predictor.kind}")
        predictor = inference.predictor_from_keras(inference.rebuild_at_output_stride(
            predictor.model, FLAGS.output_stride, FLAGS.preset), FLAGS.model)
    tiles = tiling.for_predictor(tiles, predictor)   # a tile too large for a fixed-size model
    names = viz.class_names(FLAGS.dataset)
    if predictor.num_classes is not None and predictor.num_classes != len(names):
        sys.exit(f"predict: error: model {FLAGS.model} predicts {predictor.num_classes} classes "
                 f"but --dataset={FLAGS.dataset} has {len(names)}")
    crf_params = crf_lib.default_params() if FLAGS.crf else None
    skipped = [] if FLAGS.skip_bad_images else None
    written = predict_files(
        predictor, paths, FLAGS.output_dir, colours=viz.palette(FLAGS.dataset), names=names,
        crf_params=crf_params, crf_processes=FLAGS.crf_processes or None,
        eval_scales=_scales(),
        add_flipped_images=FLAGS.add_flipped_images, batch_size=FLAGS.batch_size,
        pad_multiple=FLAGS.output_stride or 16, panels=FLAGS.panels,
        max_pixels=FLAGS.max_pixels, skipped=skipped, tiling=tiles,
        label_ids_dataset=FLAGS.dataset if FLAGS.save_label_ids else None)
    print(f"wrote {len(written)} masks and overlays to {FLAGS.output_dir}")
    if skipped:
        print(f"skipped {len(skipped)} image(s):", file=sys.stderr)
        for _, reason in skipped:
            print(f"  {reason}", file=sys.stderr)


def _scales():
    try:
        scales = tuple(float(s) for s in FLAGS.eval_scales)
    except ValueError:
        scales = ()
    if not scales or any(not np.isfinite(s) or s <= 0 for s in scales):
        sys.exit(f"predict: error: --eval_scales={','.join(FLAGS.eval_scales)}: expected "
                 "positive numbers like 0.5,1.0,1.5")
    return scales


if __name__ == "__main__":
    define_flags()
    app.run(main)

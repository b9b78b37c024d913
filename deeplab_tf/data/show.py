r"""A grid of pipeline outputs with their labels overlaid: how a user checks a pipeline.

  python -m deeplab_tf.data.show --dataset=voc2012 --data_dir=TFRECORDS --split=train \
      --num=8 --output=grid.png

Each cell shows the image as the model receives it (augmented when --training) and, beside
it, the image with the label blended in the dataset's palette (ignore pixels in the VOC
boundary colour). --dataset=synthetic without --data_dir generates the synthetic dataset in a
temporary folder first. For a prepared folder it also prints the split's label statistics
(pixels per class and the class weightings computed from them, label_stats.py).
"""
if __name__ == "__main__":   # before TensorFlow is imported: its C++ log lines
    from deeplab_tf.quiet import quiet
    quiet()
import sys
import tempfile

import numpy as np
from absl import app, flags
from PIL import Image, ImageDraw

from deeplab_tf.data import label_stats
from deeplab_tf.data.datasets import DATASETS, get_dataset
from deeplab_tf.flags import parse_size


def overlay(image, label, palette, alpha=0.5):
    """Blend of image [H, W, 3] (0..255) and the label's palette colours -> uint8 [H, W, 3]."""
    colors = np.asarray(palette, np.float32)[np.asarray(label, np.int64)]
    return np.clip((1 - alpha) * np.asarray(image, np.float32) + alpha * colors, 0,
                   255).astype(np.uint8)


def make_grid(batch, palette, columns=4):
    """PIL image: for each example, [image | overlay] with its id written underneath."""
    images, labels, ids = batch["image"], batch["label"], batch["id"]
    height, width = images.shape[1:3]
    rows = -(-len(images) // columns)
    cell_w, cell_h = 2 * width + 6, height + 16
    grid = Image.new("RGB", (columns * cell_w, rows * cell_h), (255, 255, 255))
    draw = ImageDraw.Draw(grid)
    for i, (image, label, image_id) in enumerate(zip(images, labels, ids)):
        x, y = (i % columns) * cell_w, (i // columns) * cell_h
        grid.paste(Image.fromarray(np.clip(image, 0, 255).astype(np.uint8)), (x, y))
        grid.paste(Image.fromarray(overlay(image, label, palette)), (x + width + 2, y))
        name = image_id.decode() if isinstance(image_id, bytes) else str(image_id)
        draw.text((x + 2, y + height + 2), name, fill=(0, 0, 0))
    return grid


def show(config, split, num, output, training=True):
    """Writes the grid of the first `num` pipeline examples of `split` to `output` (PNG)."""
    import dataclasses
    from deeplab_tf.data.pipeline import build_dataset
    config = dataclasses.replace(config, batch_size=num)
    batch = next(iter(build_dataset(config, split, training=training)))
    batch = {k: v.numpy() for k, v in batch.items()}
    grid = make_grid(batch, get_dataset(config.dataset).label_palette())
    grid.save(output)
    return output


FLAGS = flags.FLAGS


def define_flags():
    """Flags of this entry point (defined only when it runs, so importing it is free)."""
    flags.DEFINE_string("dataset", "synthetic", f"Dataset: one of {sorted(DATASETS)} or the "
                        "path of a dataset.json.")
    flags.DEFINE_string("data_dir", "", "Prepared TFRecord folder ('' for synthetic: generate).")
    flags.DEFINE_string("split", "train", "Split to show.")
    flags.DEFINE_integer("num", 8, "Number of examples.")
    flags.DEFINE_list("crop_size", ["513", "513"], "Training crop height,width.")
    flags.DEFINE_bool("training", True, "Show training augmentation (else eval padding).")
    flags.DEFINE_integer("seed", 0, "Seed (the output is deterministic).")
    flags.DEFINE_string("output", "grid.png", "Output PNG.")


def main(argv):
    del argv
    from deeplab_tf.config import DataConfig
    try:
        crop = parse_size(FLAGS.crop_size, "crop_size")
    except ValueError as error:
        sys.exit(f"error: {error}")
    if FLAGS.num < 1:
        sys.exit(f"error: --num={FLAGS.num} must be >= 1")
    try:
        info = get_dataset(FLAGS.dataset)
    except ValueError as error:
        sys.exit(f"error: --dataset: {error}")
    data_dir = FLAGS.data_dir
    if not data_dir:
        if FLAGS.dataset != "synthetic":
            sys.exit(f"error: --data_dir is required for --dataset={FLAGS.dataset}")
        from deeplab_tf.data.synthetic import ensure_synthetic
        data_dir = ensure_synthetic(tempfile.mkdtemp(prefix="deeplab_tf_synthetic_"),
                                    num_train=max(FLAGS.num, 16), num_val=max(FLAGS.num, 16))
    config = DataConfig(dataset=FLAGS.dataset, data_dir=data_dir, crop_size=crop,
                        deterministic=True, seed=FLAGS.seed)
    try:
        show(config, FLAGS.split, FLAGS.num, FLAGS.output, FLAGS.training)
    except (FileNotFoundError, ValueError) as error:
        sys.exit(f"error: {error}")
    print(f"wrote {FLAGS.output}")
    from deeplab_tf.data import records
    stats = records.read_info(data_dir)["splits"].get(FLAGS.split, {}).get("label_statistics")
    if stats and len(stats["class_pixels"]) == info.num_classes:
        print(f"label statistics of {FLAGS.split}:")
        print("\n".join(label_stats.format_statistics(stats, info.class_names)))


if __name__ == "__main__":
    define_flags()
    app.run(main)

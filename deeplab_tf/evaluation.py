"""Evaluation of a predictor on a whole split: the library behind `python -m deeplab_tf.evaluate`
and deeplab_tf.crf_search, also used by deeplab_tf.train's final evaluation.

    examples = folder_examples(VOC_ROOT, "voc2012", "val")   # or record_examples(data, "val")
    result = evaluate(predictor, examples, num_classes, class_names=names,
                      eval_scales=(0.5, 1.0, 1.5), add_flipped_images=True)
    write_outputs(result, output_dir, names, settings)

Examples are (id, image uint8 [H, W, 3], label [H, W], source) from raw files in the dataset's
official layout (folder_examples) or from the TFRecords of deeplab_tf.data.prepare
(record_examples). evaluate() sums one confusion matrix over the split (and a second one after
the DenseCRF with crf_params) and draws image | prediction | CRF | truth panels; write_outputs()
writes metrics.json, metrics.md, confusion_matrix.png and confusion_matrix.npy.
"""
import json
import os
import time

import numpy as np

from deeplab_tf.data.datasets import IGNORE_LABEL


# ---------------------------------------------------------------------------------------------
# Data: (id, image uint8 [H, W, 3], label [H, W]) triples
# ---------------------------------------------------------------------------------------------
def folder_examples(folder, dataset, split):
    """Raw files in the official layout; a missing label file is an error naming it."""
    from PIL import Image
    from deeplab_tf.data import raw_examples, sources
    from deeplab_tf.data.datasets import get_dataset
    info = get_dataset(dataset)
    examples = sources.find_examples(info, [folder], split)
    for ex in examples:
        if ex.image_path is None:
            raise FileNotFoundError(f"image of {ex.id} is missing: expected {ex.expected_image}")
        if ex.label_path is None:
            raise FileNotFoundError(f"ground truth of {ex.id} is missing: expected "
                                    f"{ex.expected_label}")
    for ex in examples:
        try:
            with Image.open(ex.image_path) as opened:
                image = np.asarray(opened.convert("RGB"))
        except Exception as error:   # PIL raises several types for unreadable files
            raise ValueError(f"image {ex.image_path} is not readable ({error})") from None
        label = raw_examples.read_class_label(ex.label_path, info)
        yield ex.id, image, label, ex.label_path


def record_examples(data_config, split):
    """TFRecords through build_dataset (eval mode), cropped back to each valid region."""
    from deeplab_tf.data.pipeline import build_dataset
    from deeplab_tf.paths import check_id
    for batch in build_dataset(data_config, split, training=False):
        for i in range(batch["image"].shape[0]):
            h, w = int(batch["height"][i]), int(batch["width"][i])
            image = batch["image"][i, :h, :w].numpy().round().clip(0, 255).astype(np.uint8)
            image_id = batch["id"][i].numpy().decode("utf-8", errors="replace")
            check_id(image_id, f"a record of split {split} in {data_config.data_dir}")
            yield (image_id, image, batch["label"][i, :h, :w].numpy(),
                   f"{split} record {image_id}")


# ---------------------------------------------------------------------------------------------
# The evaluation
# ---------------------------------------------------------------------------------------------
def evaluate(predictor, examples, num_classes, *, class_names, eval_scales=(1.0,),
             add_flipped_images=False, crf_params=None, crf_processes=None, batch_size=4,
             pad_multiple=16, crop_size=None, panels_dir=None, num_panels=0, colours=None,
             ignore_label=IGNORE_LABEL, total=None, progress=True, tiling=None, label_ids_dir=None,
             label_ids_dataset=None):
    """Confusion matrices over all examples (iterable of (id, image, label, source)); with
    tiling (deeplab_tf.tiling.Tiling) images above its pixel count run in blended tiles; with
    label_ids_dir, every prediction is also written there in the evaluation server's format of
    label_ids_dataset (deeplab_tf.server_formats).

    Returns {"metrics": ..., "matrix": [C, C], "without_crf": ... (with CRF), "images": n,
    "seconds": {...}}.
    """
    from tqdm import tqdm
    from deeplab_tf import inference, server_formats, viz
    from deeplab_tf.paths import inside
    from deeplab_tf.postprocess import crf as crf_lib
    from deeplab_tf.metrics import ConfusionMatrix
    if predictor.num_classes is not None and predictor.num_classes != num_classes:
        raise ValueError(f"model {predictor.path} predicts {predictor.num_classes} classes but "
                         f"the dataset has {num_classes} ({', '.join(class_names[:4])}, ...)")
    if crf_params is not None and predictor.output == inference.LABELS:
        raise ValueError(f"--crf needs probabilities; {predictor.path} outputs labels only")
    if panels_dir and num_panels:
        os.makedirs(panels_dir, exist_ok=True)
    if label_ids_dir:
        server_formats.check_dataset(label_ids_dataset)
        os.makedirs(label_ids_dir, exist_ok=True)
    plain = ConfusionMatrix(num_classes, ignore_label, class_names)
    refined = ConfusionMatrix(num_classes, ignore_label, class_names) if crf_params else None
    refiner = crf_lib.CRFRefiner(crf_params, crf_processes) if crf_params else None
    seconds = {"model": 0.0, "crf": 0.0}
    count = 0
    bar = tqdm(total=total, unit="img", desc="evaluate", disable=not progress)

    def flush(chunk):
        nonlocal count
        ids, images, labels, sources = zip(*chunk)
        start = time.time()
        if refiner is None:   # labels only: tiled images never hold whole probabilities
            probs, preds = None, inference.predict_labels(
                predictor, list(images), eval_scales, add_flipped_images, batch_size,
                pad_multiple, crop_size, tiling=tiling)
        else:
            probs = inference.predict_probabilities(
                predictor, list(images), eval_scales, add_flipped_images, batch_size,
                pad_multiple, crop_size, tiling=tiling)
            preds = [p.argmax(-1) for p in probs]
        seconds["model"] += time.time() - start
        crf_preds = [None] * len(preds)
        if refiner:
            start = time.time()
            crf_preds = [q.argmax(-1) for q in refiner.refine(images, probs)]
            seconds["crf"] += time.time() - start
        for i, (pred, cpred) in enumerate(zip(preds, crf_preds)):
            plain.update(labels[i], pred, name=sources[i])
            if refined:
                refined.update(labels[i], cpred, name=sources[i])
            if label_ids_dir:
                server_formats.save_label_ids(pred if cpred is None else cpred,
                                              inside(label_ids_dir, ids[i]), label_ids_dataset)
            if panels_dir and count < num_panels:
                viz.panel(images[i], pred, inside(panels_dir, f"{ids[i]}.png"), colours,
                          class_names, crf=cpred, label=labels[i], title=ids[i])
            count += 1
        bar.update(len(chunk))

    try:
        chunk = []
        for example in examples:
            chunk.append(example)
            if len(chunk) == batch_size:
                flush(chunk)
                chunk = []
        if chunk:
            flush(chunk)
    finally:
        bar.close()
        if refiner:
            refiner.close()
    result = {"images": count, "seconds": seconds}
    if refined:
        result.update(metrics=refined.metrics(), matrix=refined.matrix,
                      without_crf=plain.metrics(), matrix_without_crf=plain.matrix)
    else:
        result.update(metrics=plain.metrics(), matrix=plain.matrix)
    return result


def metrics_line(metrics):
    """The four FCN metrics in percent on one console line."""
    return " ".join(f"{key}={100 * metrics[key]:.2f}" for key in
                    ("pixel_accuracy", "mean_accuracy", "mean_iou", "frequency_weighted_iou"))


def markdown_table(metrics, title):
    lines = [f"# {title}", "", "| metric | value (%) |", "|---|---|"]
    for key in ("pixel_accuracy", "mean_accuracy", "mean_iou", "frequency_weighted_iou"):
        lines.append(f"| {key} | {100 * metrics[key]:.2f} |")
    lines += ["", "| class | IoU (%) |", "|---|---|"]
    for name, value in metrics["per_class_iou"].items():
        lines.append(f"| {name} | {'n/a (absent)' if value is None else f'{100 * value:.2f}'} |")
    return "\n".join(lines) + "\n"


def write_outputs(result, output_dir, class_names, settings):
    from deeplab_tf import viz
    os.makedirs(output_dir, exist_ok=True)
    metrics = dict(result["metrics"])
    if "without_crf" in result:
        metrics["without_crf"] = result["without_crf"]
        np.save(os.path.join(output_dir, "confusion_matrix_without_crf.npy"),
                result["matrix_without_crf"])
    metrics.update(images=result["images"], seconds=result["seconds"], settings=settings)
    with open(os.path.join(output_dir, "metrics.json"), "w") as f:
        json.dump(metrics, f, indent=1)
    # The last two path parts name the model without a long absolute path cutting the title.
    model_name = os.path.join(*os.path.normpath(str(settings["model"])).split(os.sep)[-2:])
    title = f"{model_name} on {settings['dataset']} {settings['split']}"
    text = markdown_table(result["metrics"], title + (" (+CRF)" if "without_crf" in result else ""))
    if "without_crf" in result:
        text += "\n" + markdown_table(result["without_crf"], title + " (without CRF)")
    with open(os.path.join(output_dir, "metrics.md"), "w") as f:
        f.write(text)
    np.save(os.path.join(output_dir, "confusion_matrix.npy"), result["matrix"])
    viz.plot_confusion_matrix(result["matrix"], class_names,
                              os.path.join(output_dir, "confusion_matrix.png"), title=title)


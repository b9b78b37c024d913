"""Grid search of the DenseCRF parameters on a small val subset (the DeepLab v1/v2 protocol).

    python -m deeplab_tf.crf_search --model=deeplab.keras --dataset=voc2012 \
        --data_folder=VOC_ROOT --eval_split=val --max_images=100 --output_dir=crf_search
    python -m deeplab_tf.evaluate ... --crf --crf_params=crf_search/crf_search.json

v1 paper (arXiv 1412.7062, section 4): "we fix w2 = 3 and sigma_gamma = 3 and search for the
best values of w1, sigma_alpha and sigma_beta by cross-validation on a small subset of the
validation set (100 images)", over w1 in [3:6], sigma_alpha in [30:10:100], sigma_beta in [3:6]
(the defaults of --w1, --theta_alpha, --theta_beta below); v2 did the same per backbone.

The model runs once per image (probabilities kept in memory as float16); every grid point then
re-runs only the CRF (in a process pool) and scores mIoU over the whole subset. Writes
crf_search.json {"best": CRFParams fields, "best_mean_iou", "without_crf_mean_iou",
"tried": [...]} and crf_search.md (the table of tried values, best first).
"""
if __name__ == "__main__":   # before TensorFlow is imported: its C++ log lines
    from deeplab_tf.quiet import quiet
    quiet()
import itertools
import json
import os
import sys
import time

import numpy as np
from absl import app, flags

from deeplab_tf import evaluate

FLAGS = flags.FLAGS


def define_flags():
    evaluate.define_flags()

    def define(kind, name, default, *args):
        if name not in FLAGS:
            getattr(flags, f"DEFINE_{kind}")(name, default, *args)
    define("list", "w1", ["3", "4", "5", "6"], "Bilateral kernel weights to try.")
    define("list", "theta_alpha", [str(v) for v in range(30, 101, 10)],
           "Bilateral spatial standard deviations (pixels) to try.")
    define("list", "theta_beta", ["3", "4", "5", "6"], "Bilateral colour std (0..255) to try.")
    define("float", "w2", 3.0, "Gaussian kernel weight (fixed; v1: 3).")
    define("float", "theta_gamma", 3.0, "Gaussian kernel spatial std (fixed; v1: 3).")
    define("integer", "crf_iterations", 10, "Mean-field iterations.")


def grid(w1s, alphas, betas, w2, theta_gamma, iterations=10):
    from deeplab_tf.postprocess.crf import CRFParams
    return [CRFParams(float(a), float(b), float(c), float(w2), float(theta_gamma), iterations)
            for a, b, c in itertools.product(w1s, alphas, betas)]


def search(predictor, examples, num_classes, class_names, candidates, *, processes=None,
           eval_scales=(1.0,), add_flipped_images=False, pad_multiple=16, batch_size=4,
           progress=True):
    """Scores every CRFParams in `candidates` on `examples` (id, image, label, source).

    Returns {"best": params dict, "best_mean_iou", "without_crf_mean_iou", "tried": [rows
    sorted by mIoU, best first], "images": n}.
    """
    from tqdm import tqdm
    from deeplab_tf import inference
    from deeplab_tf.postprocess.crf import CRFRefiner
    from deeplab_tf.metrics import ConfusionMatrix
    if predictor.output == inference.LABELS:
        raise ValueError(f"CRF search needs probabilities; {predictor.path} outputs labels only")
    if predictor.num_classes is not None and predictor.num_classes != num_classes:
        raise ValueError(f"model {predictor.path} predicts {predictor.num_classes} classes but "
                         f"the dataset has {num_classes}")
    images, labels, probs, names = [], [], [], []
    plain = ConfusionMatrix(num_classes, class_names=class_names)
    for ex_id, image, label, source in examples:
        prob = inference.predict_probabilities(predictor, [image], eval_scales,
                                               add_flipped_images, batch_size, pad_multiple)[0]
        plain.update(label, prob.argmax(-1), name=source)
        images.append(image)
        labels.append(label)
        probs.append(prob.astype(np.float16))   # halves the memory of the cached softmax
        names.append(source)
    if not images:
        raise ValueError("the CRF search subset has no images")
    rows = []
    with CRFRefiner(processes=processes) as refiner:
        for params in tqdm(candidates, unit="setting", desc="crf grid", disable=not progress):
            refiner.params = params
            start = time.time()
            refined = refiner.refine(images, [p.astype(np.float32) for p in probs])
            matrix = ConfusionMatrix(num_classes, class_names=class_names)
            for label, q, name in zip(labels, refined, names):
                matrix.update(label, q.argmax(-1), name=name)
            m = matrix.metrics()
            rows.append({**params.__dict__, "mean_iou": m["mean_iou"],
                         "pixel_accuracy": m["pixel_accuracy"],
                         "seconds_per_image": (time.time() - start) / len(images)})
    rows.sort(key=lambda r: -r["mean_iou"])
    best = {k: rows[0][k] for k in candidates[0].__dict__}
    return {"best": best, "best_mean_iou": rows[0]["mean_iou"],
            "without_crf_mean_iou": plain.metrics()["mean_iou"], "tried": rows,
            "images": len(images)}


def write(result, output_dir):
    os.makedirs(output_dir, exist_ok=True)
    with open(os.path.join(output_dir, "crf_search.json"), "w") as f:
        json.dump(result, f, indent=1)
    lines = [f"# DenseCRF grid search ({result['images']} images)", "",
             f"without CRF: mIoU {100 * result['without_crf_mean_iou']:.2f}", "",
             "| w1 | theta_alpha | theta_beta | w2 | theta_gamma | mIoU (%) | pixel acc (%) |",
             "|---|---|---|---|---|---|---|"]
    for r in result["tried"]:
        lines.append(f"| {r['w1']:g} | {r['theta_alpha']:g} | {r['theta_beta']:g} | {r['w2']:g} "
                     f"| {r['theta_gamma']:g} | {100 * r['mean_iou']:.2f} | "
                     f"{100 * r['pixel_accuracy']:.2f} |")
    with open(os.path.join(output_dir, "crf_search.md"), "w") as f:
        f.write("\n".join(lines) + "\n")


def main(argv):
    del argv
    try:
        run()
    except (ValueError, FileNotFoundError, OSError) as error:
        sys.exit(f"crf_search: error: {error}")


def run():
    from deeplab_tf.data.datasets import get_dataset
    if not FLAGS.output_dir:
        sys.exit("crf_search: error: --output_dir is required")
    if not FLAGS.data_folder and not FLAGS.data_dir:
        sys.exit("crf_search: error: pass --data_folder=RAW_FOLDER or --data_dir=TFRECORDS")
    try:
        candidates = grid(FLAGS.w1, FLAGS.theta_alpha, FLAGS.theta_beta, FLAGS.w2,
                          FLAGS.theta_gamma, FLAGS.crf_iterations)
    except ValueError as error:
        sys.exit(f"crf_search: error: --w1/--theta_alpha/--theta_beta must be numbers ({error})")
    from deeplab_tf.config import from_flags
    configs = from_flags(FLAGS)   # dataset, data, model and eval settings, as evaluate reads
    d, e = configs["data"], configs["eval"]
    info = get_dataset(d.dataset)
    predictor = evaluate.load(FLAGS, configs)
    examples = (evaluate.folder_examples(FLAGS.data_folder, d.dataset, e.split)
                if FLAGS.data_folder else
                evaluate.record_examples(evaluate.data_config(configs), e.split))
    examples = evaluate._take(examples, FLAGS.max_images or 100)   # v1: 100 val images
    result = search(predictor, examples, info.num_classes, info.class_names, candidates,
                    processes=FLAGS.crf_processes or None, eval_scales=e.eval_scales,
                    add_flipped_images=e.add_flipped_images,
                    pad_multiple=evaluate.eval_output_stride(configs) or 16)
    write(result, FLAGS.output_dir)
    print(f"{len(candidates)} settings on {result['images']} images: best {result['best']} "
          f"mIoU {100 * result['best_mean_iou']:.2f} (without CRF "
          f"{100 * result['without_crf_mean_iou']:.2f}); wrote "
          f"{os.path.join(FLAGS.output_dir, 'crf_search.json')}")


if __name__ == "__main__":
    define_flags()
    app.run(main)

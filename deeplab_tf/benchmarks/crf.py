"""DenseCRF cost (`python -m deeplab_tf.benchmark --what=crf`): serial CPU seconds per
500x375 image (21 classes, 10 mean-field iterations) with the v2 ResNet-101 and VGG-16
parameters, and the images/s of a deeplab_tf.postprocess.crf.CRFRefiner pool.

Images (and soft unaries from their ground truth) come from a raw VOC folder, or are synthetic
without one.
"""
import os
import statistics
import time


def crf_inputs(voc_dir, count, size=(375, 500), num_classes=21):
    """`count` (uint8 image [375, 500, 3], probabilities [375, 500, 21]) pairs."""
    import glob
    import numpy as np
    from PIL import Image
    from deeplab_tf.data.datasets import IGNORE_LABEL
    from deeplab_tf.postprocess.crf import probabilities_from_labels
    pairs = []
    if voc_dir:
        root = os.path.join(voc_dir, "VOCdevkit", "VOC2012")
        for path in sorted(glob.glob(os.path.join(root, "JPEGImages", "*.jpg"))):
            name = os.path.splitext(os.path.basename(path))[0]
            label_path = os.path.join(root, "SegmentationClassRaw", name + ".png")
            if not os.path.exists(label_path):
                continue
            image = Image.open(path).convert("RGB").resize(size[::-1], Image.BILINEAR)
            label = Image.open(label_path).resize(size[::-1], Image.NEAREST)
            pairs.append((np.asarray(image), probabilities_from_labels(
                np.asarray(label), num_classes, unknown=IGNORE_LABEL)))
    if not pairs:  # smooth synthetic image with blocky labels
        rng = np.random.RandomState(0)
        image = np.clip(rng.normal(128, 40, size + (3,)), 0, 255).astype(np.uint8)
        label = np.kron(rng.randint(0, num_classes, (15, 20)), np.ones((25, 25), int))
        pairs.append((image, probabilities_from_labels(label, num_classes)))
    return [pairs[i % len(pairs)] for i in range(count)]


def crf(voc_dir, count, processes):
    """Serial seconds per image and pool images/s, per v2 parameter set."""
    from deeplab_tf.postprocess import crf as crf_lib
    pairs = crf_inputs(voc_dir, count)
    images, probs = [p[0] for p in pairs], [p[1] for p in pairs]
    rows = []
    for backbone in ("resnet101", "vgg16"):
        params = crf_lib.default_params(backbone)
        serial = []
        for image, prob in pairs:
            start = time.process_time()
            crf_lib.dense_crf(image, prob, params)
            serial.append(time.process_time() - start)
        with crf_lib.CRFRefiner(params, processes) as refiner:
            refiner.refine(images[:processes], probs[:processes])  # start the workers
            start = time.time()
            refiner.refine(images, probs)
            pooled = time.time() - start
        rows.append({"parameters": backbone, "size": "500x375", "images": count,
                     "serial_cpu_seconds_median": round(statistics.median(serial), 3),
                     "pool_processes": processes,
                     "pool_images_per_second": round(count / pooled, 2)})
    return rows

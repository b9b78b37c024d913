"""Metrics against hand-computed confusion matrices (FCN definitions, official mIoU convention)."""
import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from deeplab_tf import metrics

# 3 classes; 255 = ignore. Valid pixels (label -> prediction): 0->0, 0->1, 1->1, 1->1, 2->0.
LABELS = np.array([[0, 0, 1], [1, 2, 255]])
PREDS = np.array([[0, 1, 1], [1, 0, 2]])
# By hand: rows = ground truth, columns = prediction.
HAND_MATRIX = np.array([[1, 1, 0],
                        [0, 2, 0],
                        [1, 0, 0]])


def test_numpy_confusion_matrix_matches_hand_count_and_skips_ignore():
    np.testing.assert_array_equal(metrics.confusion_matrix(LABELS, PREDS, 3), HAND_MATRIX)


def test_four_metrics_hand_computed():
    m = metrics.compute_metrics(HAND_MATRIX, ["bg", "a", "b"])
    # t = [2, 2, 1], column sums = [2, 3, 0], diagonal = [1, 2, 0], 5 valid pixels.
    assert m["pixel_accuracy"] == pytest.approx(3 / 5)
    assert m["mean_accuracy"] == pytest.approx((1 / 2 + 2 / 2 + 0 / 1) / 3)
    # IoU = [1/(2+2-1), 2/(2+3-2), 0/(1+0-0)] = [1/3, 2/3, 0]
    assert m["per_class_iou"] == pytest.approx({"bg": 1 / 3, "a": 2 / 3, "b": 0.0})
    assert m["mean_iou"] == pytest.approx(1 / 3)
    assert m["frequency_weighted_iou"] == pytest.approx((2 * 1 / 3 + 2 * 2 / 3 + 1 * 0) / 5)
    assert m["num_pixels"] == 5


def test_absent_classes_are_excluded_from_means_like_tf_mean_iou():
    # 4 classes: class 3 only predicted (IoU 0, counts), classes 1 and 2 absent from both.
    labels = np.array([0, 0, 255, 255])
    preds = np.array([0, 3, 1, 2])          # ignored pixels' predictions do not count
    matrix = metrics.confusion_matrix(labels, preds, 4)
    np.testing.assert_array_equal(matrix.sum(), 2)
    m = metrics.compute_metrics(matrix)
    assert m["per_class_iou"] == {"0": 0.5, "1": None, "2": None, "3": 0.0}
    assert m["mean_iou"] == pytest.approx((0.5 + 0.0) / 2)
    assert m["mean_accuracy"] == pytest.approx(0.5)     # only class 0 has ground truth
    assert m["num_valid_classes"] == 2
    json.dumps(m)  # None, not NaN, so metrics.json stays valid JSON


def test_mean_iou_agrees_with_keras_meaniou_convention():
    import keras
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 5, size=(2, 9, 9))
    labels[labels == 4] = 255                      # class 4 never present in labels
    preds = rng.integers(0, 4, size=(2, 9, 9))     # nor in predictions
    ours = metrics.compute_metrics(metrics.confusion_matrix(labels, preds, 5))["mean_iou"]
    ref = keras.metrics.MeanIoU(num_classes=5, ignore_class=255)
    ref.update_state(labels.reshape(-1), preds.reshape(-1))
    assert ours == pytest.approx(float(ref.result()), abs=1e-6)


def test_tf_confusion_matrix_matches_numpy_and_honours_mask():
    import tensorflow as tf
    got = tf.function(lambda l, p: metrics.confusion_matrix_tf(l, p, 3))(LABELS[None], PREDS[None])
    np.testing.assert_array_equal(got.numpy(), HAND_MATRIX)
    mask = metrics.valid_region_mask(tf.constant([2]), tf.constant([2]), (2, 3))
    got = metrics.confusion_matrix_tf(LABELS[None], PREDS[None], 3, mask=mask).numpy()
    np.testing.assert_array_equal(got, metrics.confusion_matrix(LABELS[:, :2], PREDS[:, :2], 3))


def test_accumulator_sums_over_images():
    acc = metrics.ConfusionMatrix(3)
    acc.update(LABELS, PREDS).update(LABELS, PREDS)
    np.testing.assert_array_equal(acc.matrix, 2 * HAND_MATRIX)
    assert acc.metrics()["mean_iou"] == pytest.approx(1 / 3)


def test_bad_inputs_name_the_problem():
    with pytest.raises(ValueError,
                       match=r"prediction shape \(2, 2\) != label shape \(2, 3\) for img7"):
        metrics.confusion_matrix(LABELS, PREDS[:, :2], 3, name="img7")
    with pytest.raises(ValueError, match=r"label value 7 .* outside 0..2"):
        metrics.confusion_matrix(np.array([7]), np.array([0]), 3)
    with pytest.raises(ValueError, match=r"prediction value 5 .* outside 0..2"):
        metrics.confusion_matrix(np.array([0]), np.array([5]), 3)


def test_summed_across_replicas_under_mirrored_strategy():
    # Fresh process: the 2 logical CPUs must be configured before TensorFlow initialises.
    code = textwrap.dedent("""
        import numpy as np, tensorflow as tf
        from deeplab_tf import metrics
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
        strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
        rng = np.random.default_rng(1)
        labels = rng.integers(0, 4, size=(4, 5, 5)).astype(np.int32)
        labels[0, 0, :] = 255
        preds = rng.integers(0, 4, size=(4, 5, 5)).astype(np.int32)
        ds = tf.data.Dataset.from_tensor_slices({"l": labels, "p": preds}).batch(4)
        dist = strategy.experimental_distribute_dataset(ds)
        @tf.function
        def run(b):
            per_replica = strategy.run(
                lambda x: metrics.confusion_matrix_tf(x["l"], x["p"], 4), args=(b,))
            return metrics.reduce_confusion_matrix(strategy, per_replica)
        total = sum(run(b).numpy() for b in dist)
        assert strategy.num_replicas_in_sync == 2
        np.testing.assert_array_equal(total, metrics.confusion_matrix(labels, preds, 4))
        print("OK", total.sum())
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "OK 95" in out.stdout


def test_the_three_evaluation_paths_count_the_same_matrix(tmp_path):
    """Periodic evaluation, `evaluate --strategy` and `evaluate` (deeplab_tf.evaluation over
    deeplab_tf.inference) give the identical confusion matrix on one model and split.

    The images agree pixel for pixel because the inputs do: the pipeline pads each image to
    its own OS*k+1 size and a batch to its largest image, inference pads each image to its own
    size and batches only equal padded sizes. So the first two images (33x40 and 30x45, both
    padded to 33x49) share a batch in every path and the third (20x20 -> 33x33) runs alone.
    Where the paths legitimately differ (BUILD_NOTES, "Conventions"): with images of different
    padded sizes in one pipeline batch, the padded-batch paths pad the smaller one further
    with the mean pixel, which image pooling averages over, while inference does not; and
    inference takes the argmax of float32 probabilities, the others of logits, which can
    differ only where two logits are within float32 rounding of each other.
    """
    import tensorflow as tf
    from PIL import Image

    import deeplab_tf
    from deeplab_tf import evaluation, inference
    from deeplab_tf.config import DataConfig
    from deeplab_tf.data import prepare, synthetic
    from deeplab_tf.data.pipeline import build_dataset
    from deeplab_tf.training.evaluation import evaluation_matrix

    root = tmp_path / "raw" / "synthetic"
    synthetic.write_synthetic(str(root), num_train=1, num_val=3, size=(33, 45))
    for index, (height, width) in enumerate([(33, 40), (30, 45), (20, 20)]):
        for folder, ext in (("JPEGImages", "jpg"), ("SegmentationClass", "png")):
            path = root / folder / f"synth_val_{index:05d}.{ext}"
            with Image.open(path) as image:
                cropped = image.crop((0, 0, width, height))   # keeps the label's palette
            cropped.save(path)
    prepare.prepare("synthetic", str(tmp_path / "raw"), str(tmp_path / "records"),
                    splits=["val"], progress=False)
    # deterministic: the shards are read in order, so every path batches the same images
    # together (a parallel read may pair the 20x20 image with another, padding it further).
    config = DataConfig(dataset="synthetic", data_dir=str(tmp_path / "records"), batch_size=2,
                        output_stride=16, deterministic=True)
    # aspp_depth scales with the width too (64 -> 8 channels). Keras' default initialisers
    # shrink the activations through MobileNetV2 to ~1e-10 logits, whose argmax rounding
    # decides; He-normal kernels (fan-in; depthwise: k*k) keep them O(1) with distinct classes.
    model = deeplab_tf.build_model("deeplabv3_mobilenetv2", num_classes=5,
                                   width_multiplier=0.125, aspp_depth=64)
    rng = np.random.default_rng(0)
    for weight in model.weights:
        if weight.path.endswith("kernel"):
            shape = tuple(weight.shape)
            fan_in = np.prod(shape[:2] if "depthwise" in weight.path else shape[:-1])
            weight.assign(rng.normal(0, np.sqrt(2 / fan_in), shape).astype("float32"))

    periodic = evaluation_matrix(model, build_dataset(config, "val", training=False), 5)
    # The default strategy runs the same replica function and SUM reduction as MirroredStrategy
    # (two replicas summed: test_summed_across_replicas_under_mirrored_strategy above and
    # tests/test_evaluate.py's --strategy=mirrored test); this process has one CPU device.
    distributed = metrics.distributed_evaluation_matrix(
        model, tf.distribute.get_strategy(), lambda ctx: build_dataset(config, "val", ctx, False),
        5)
    examples = list(evaluation.record_examples(config, "val"))
    whole = evaluation.evaluate(inference.predictor_from_keras(model), examples, 5,
                                class_names=[str(i) for i in range(5)], batch_size=2,
                                pad_multiple=16, progress=False)["matrix"]

    assert [e[1].shape[:2] for e in examples] == [(33, 40), (30, 45), (20, 20)]
    valid = sum(int((e[2] != metrics.IGNORE_LABEL).sum()) for e in examples)
    assert whole.sum() == valid > 0.8 * (33 * 40 + 30 * 45 + 20 * 20)   # padding never counts
    assert (whole.sum(axis=0) > 0).sum() >= 2   # several classes predicted: a real comparison
    np.testing.assert_array_equal(periodic, whole)
    np.testing.assert_array_equal(distributed, whole)

"""evaluate: whole-split confusion matrix, metrics files, CRF, checkpoints, output stride,
bad inputs; end to end on the real VOC samples with the official TFLite model."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from deeplab_tf import evaluate, inference, viz
from deeplab_tf.postprocess import crf
from deeplab_tf import metrics
from tests.conftest import REPO, shared_path
from tests.test_inference import tiny_model


def make_voc_folder(root, sizes=((33, 41), (40, 29), (25, 25)), split="val", seed=0):
    """A tiny VOC-layout folder (random images, palette PNG labels with 255 borders)."""
    rng = np.random.default_rng(seed)
    base = root / "VOCdevkit" / "VOC2012"
    for sub in ("JPEGImages", "SegmentationClass", "ImageSets/Segmentation"):
        (base / sub).mkdir(parents=True, exist_ok=True)
    ids = []
    for i, (h, w) in enumerate(sizes):
        ids.append(f"img{i}")
        Image.fromarray(rng.integers(0, 256, (h, w, 3)).astype(np.uint8)).save(
            base / "JPEGImages" / f"img{i}.jpg", quality=95)
        label = rng.integers(0, 3, (h, w))
        label[0, :] = 255
        viz.save_index_png(label, base / "SegmentationClass" / f"img{i}.png", viz.palette())
    (base / "ImageSets" / "Segmentation" / f"{split}.txt").write_text("\n".join(ids) + "\n")
    return root


def _cli(*args, module="deeplab_tf.evaluate"):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    return subprocess.run([sys.executable, "-m", module, *args], capture_output=True,
                          text=True, cwd=REPO, env=env, timeout=300)


def test_confusion_matrix_is_summed_over_the_split_and_crf_is_reported(tmp_path):
    folder = make_voc_folder(tmp_path / "voc")
    predictor = inference.predictor_from_keras(tiny_model(num_classes=21))
    examples = list(evaluate.folder_examples(folder, "voc2012", "val"))
    assert [e[0] for e in examples] == ["img0", "img1", "img2"]
    result = evaluate.evaluate(
        predictor, examples, 21, class_names=viz.class_names(), batch_size=2,
        crf_params=crf.default_params(),
        crf_processes=2, panels_dir=str(tmp_path / "panels"), num_panels=2,
        colours=viz.palette(), progress=False)
    labels = inference.predict_labels(predictor, [e[1] for e in examples])
    expected = sum(metrics.confusion_matrix(e[2], p, 21) for e, p in zip(examples, labels))
    np.testing.assert_array_equal(result["matrix_without_crf"], expected)
    assert result["matrix"].sum() == expected.sum()      # same valid pixels after the CRF
    assert result["images"] == 3 and sorted(os.listdir(tmp_path / "panels")) == [
        "img0.png", "img1.png"]
    assert result["without_crf"]["mean_iou"] == pytest.approx(
        metrics.compute_metrics(expected)["mean_iou"])


def test_model_class_count_must_match_the_dataset(tmp_path):
    folder = make_voc_folder(tmp_path / "voc")
    predictor = inference.predictor_from_keras(tiny_model(num_classes=3), "tiny3.keras")
    with pytest.raises(ValueError, match=r"model tiny3.keras predicts 3 classes but the dataset "
                                         r"has 21"):
        evaluate.evaluate(predictor, evaluate.folder_examples(folder, "voc2012", "val"), 21,
                          class_names=viz.class_names(), progress=False)


def test_prediction_and_label_of_different_sizes_name_the_label_file(tmp_path):
    folder = make_voc_folder(tmp_path / "voc")
    label_file = folder / "VOCdevkit/VOC2012/SegmentationClass/img1.png"
    viz.save_index_png(np.zeros((10, 12), np.uint8), label_file, viz.palette())
    predictor = inference.predictor_from_keras(tiny_model(num_classes=21))
    with pytest.raises(ValueError, match=r"prediction shape \(40, 29\) != label shape \(10, 12\)"
                                         r" for .*img1\.png"):
        evaluate.evaluate(predictor, evaluate.folder_examples(folder, "voc2012", "val"), 21,
                          class_names=viz.class_names(), progress=False)


def test_cli_missing_ground_truth_is_a_clear_error(tmp_path):
    folder = make_voc_folder(tmp_path / "voc")
    os.remove(folder / "VOCdevkit/VOC2012/SegmentationClass/img2.png")
    model = tmp_path / "tiny.keras"
    tiny_model(num_classes=21).save(model)
    out = _cli(f"--model={model}", "--dataset=voc2012", f"--data_folder={folder}",
               f"--output_dir={tmp_path / 'out'}")
    assert out.returncode != 0
    assert "evaluate: error: ground truth of img2 is missing: expected" in out.stderr
    assert "SegmentationClass/img2.png" in out.stderr.splitlines()[-1]


def test_cli_split_id_that_is_a_path_is_refused_and_nothing_written_outside(tmp_path):
    folder = make_voc_folder(tmp_path / "voc")
    split = folder / "VOCdevkit/VOC2012/ImageSets/Segmentation/val.txt"
    split.write_text(split.read_text() + "../../../../../evil\n")
    model = tmp_path / "tiny.keras"
    tiny_model(num_classes=21).save(model)
    out = _cli(f"--model={model}", "--dataset=voc2012", f"--data_folder={folder}",
               f"--output_dir={tmp_path / 'out' / 'eval'}")
    assert out.returncode != 0
    last = out.stderr.strip().splitlines()[-1]
    assert last.startswith("evaluate: error: ") and "val.txt:4: example id " in last, out.stderr
    assert "'../../../../../evil' is refused" in last
    assert not list(tmp_path.rglob("evil*"))
    assert not [p for p in (tmp_path / "out").rglob("*") if p.is_file()]


def test_truncated_image_in_a_raw_folder_is_named(tmp_path):
    from deeplab_tf.evaluation import folder_examples
    folder = make_voc_folder(tmp_path / "voc")
    jpeg = folder / "VOCdevkit/VOC2012/JPEGImages/img1.jpg"
    jpeg.write_bytes(jpeg.read_bytes()[:300])
    with pytest.raises(ValueError, match=r"image .*img1\.jpg is not readable"):
        list(folder_examples(str(folder), "voc2012", "val"))


@pytest.mark.slow
def test_cli_official_tflite_on_real_voc_samples(tmp_path):
    """End to end on real files (~10 s): prints the four metrics, writes every output."""
    voc = shared_path("voc")
    model = shared_path("official", "deeplabv3_257_mv_gpu.tflite")
    out = _cli(f"--model={model}", "--dataset=voc2012", f"--data_folder={voc}",
               "--eval_split=val", "--crf", "--crf_processes=2", f"--output_dir={tmp_path}")
    assert out.returncode == 0, out.stderr[-3000:]
    for key in ("pixel_accuracy", "mean_accuracy", "mean_iou", "frequency_weighted_iou"):
        assert key + "=" in out.stdout
    result = json.loads((tmp_path / "metrics.json").read_text())
    assert result["images"] == 1 and result["without_crf"]["mean_iou"] > 0.6
    assert result["per_class_iou"]["person"] is not None
    assert result["per_class_iou"]["aeroplane"] is None       # absent: excluded, not 0
    for name in ("metrics.md", "confusion_matrix.png", "panels/2007_000129.png"):
        assert (tmp_path / name).stat().st_size > 0


@pytest.mark.slow
def test_tfrecords_default_and_two_replica_strategy_give_the_same_matrix(tmp_path):
    """--data_dir TFRecords (build_dataset) with one device and under a 2-replica
    MirroredStrategy on CPU: the per-replica confusion matrices summed = the whole split."""
    from deeplab_tf.data.synthetic import ensure_synthetic
    records = ensure_synthetic(str(tmp_path / "syn"), num_train=1, num_val=5, size=(33, 41))
    model = tmp_path / "tiny5.keras"
    tiny_model(num_classes=5, seed=2).save(model)
    common = [f"--model={model}", "--dataset=synthetic", f"--data_dir={records}",
              "--eval_split=val", "--eval_batch_size=2", "--num_panels=0"]
    single = _cli(*common, f"--output_dir={tmp_path / 'one'}")
    assert single.returncode == 0, single.stderr[-2000:]
    mirrored = _cli(*common, "--strategy=mirrored", "--num_cpu_replicas=2",
                    f"--output_dir={tmp_path / 'two'}")
    assert mirrored.returncode == 0, mirrored.stderr[-2000:]
    assert "2 replicas:" in mirrored.stdout
    one = np.load(tmp_path / "one" / "confusion_matrix.npy")
    two = np.load(tmp_path / "two" / "confusion_matrix.npy")
    assert 0.8 * 5 * 33 * 41 < one.sum() <= 5 * 33 * 41   # valid pixels of the 5 val images
    np.testing.assert_array_equal(one, two)
    bad = _cli(*common, "--strategy=mirrored", "--crf", f"--output_dir={tmp_path / 'x'}")
    assert bad.returncode != 0
    assert "evaluates TFRecords (--data_dir) at a single scale" in bad.stderr


def test_cityscapes_folder_labels_become_train_ids():
    folder = shared_path("cityscapes")
    (ex_id, image, label, source), = list(evaluate.folder_examples(folder, "cityscapes", "val"))
    assert ex_id == "frankfurt_000000_000294" and image.shape == (128, 256, 3)
    train_ids = np.asarray(Image.open(
        folder / "gtFine/val/frankfurt/frankfurt_000000_000294_gtFine_labelTrainIds.png"))
    assert set(np.unique(label)) <= set(range(19)) | {255}
    assert (label == train_ids).mean() > 0.99   # SOURCES.md: ~0.2% differ (downscaling)

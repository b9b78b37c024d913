"""predict: class-index PNGs at input size and overlays, for .keras, SavedModel and .tflite;
the official model reproduces Google's golden mask; bad inputs."""
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from deeplab_tf import inference, predict, viz
from deeplab_tf.postprocess import crf
from tests.conftest import REPO, shared_path
from tests.test_inference import _save_servable, _tflite, tiny_model


def _write_images(folder, sizes=((30, 25), (21, 40), (33, 33))):
    rng = np.random.default_rng(3)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, (h, w) in enumerate(sizes):
        path = folder / f"photo{i}.png"
        Image.fromarray(rng.integers(0, 256, (h, w, 3)).astype(np.uint8)).save(path)
        paths.append(str(path))
    return paths


def _cli(*args):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    return subprocess.run([sys.executable, "-m", "deeplab_tf.predict", *args],
                          capture_output=True, text=True, cwd=REPO, env=env, timeout=300)


def test_masks_are_class_indices_at_input_size_for_every_backend(tmp_path):
    paths = _write_images(tmp_path / "in")
    model = tiny_model(num_classes=21)
    keras_pred = inference.predictor_from_keras(model)
    colours = viz.palette("voc2012")
    written = predict.predict_files(keras_pred, paths, tmp_path / "keras", colours=colours,
                                    batch_size=2, progress=False)
    expected = inference.predict_labels(keras_pred, [predict.read_image(p) for p in paths])
    for mask_path, path, labels in zip(written, paths, expected):
        mask = Image.open(mask_path)
        assert mask.mode == "P" and mask.size == Image.open(path).size
        np.testing.assert_array_equal(np.asarray(mask), labels)
        assert (tmp_path / "keras" / (os.path.basename(path)[:-4] + "_overlay.png")).exists()
    # SavedModel: same masks (mean pixel 128 on both sides, as the uint8 signature rounds).
    _save_servable(model, tmp_path / "sm")
    sm = inference.load_predictor(tmp_path / "sm", mean_pixel=(128, 128, 128))
    keras_pred.mean_pixel = (128, 128, 128)
    ref = inference.predict_labels(keras_pred, [predict.read_image(p) for p in paths])
    for got, want in zip(predict.predict_files(sm, paths, tmp_path / "sm_out", colours=colours,
                                               progress=False), ref):
        np.testing.assert_array_equal(np.asarray(Image.open(got)), want)
    # .tflite with ArgMax inside (fixed 33x33 input): masks still at each input's size.
    lite = inference.load_predictor(_tflite(model, tmp_path / "m.tflite", argmax=True))
    for got, path in zip(predict.predict_files(lite, paths, tmp_path / "lite", colours=colours,
                                               progress=False), paths):
        assert Image.open(got).size == Image.open(path).size
    with pytest.raises(ValueError, match="--crf needs probabilities; .*m.tflite outputs labels"):
        predict.predict_files(lite, paths, tmp_path / "x", colours=colours,
                              crf_params=crf.default_params(), progress=False)


def test_crf_masks_and_panels(tmp_path):
    paths = _write_images(tmp_path / "in")
    pred = inference.predictor_from_keras(tiny_model(num_classes=21))
    written = predict.predict_files(pred, paths, tmp_path / "out", colours=viz.palette(),
                                    names=viz.class_names(), crf_params=crf.default_params(),
                                    crf_processes=2, panels=True, progress=False)
    assert len(written) == 3
    assert all(os.path.exists(p[:-4] + "_panel.png") for p in written)


def test_unreadable_image_names_the_file(tmp_path):
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"not an image")
    with pytest.raises(ValueError, match=r"broken\.jpg: not a readable image"):
        predict.read_image(bad)


def test_bad_images_are_skipped_and_listed_and_large_ones_refused(tmp_path):
    paths = _write_images(tmp_path / "in")
    truncated = tmp_path / "in" / "truncated.jpg"
    truncated.write_bytes(open(paths[0], "rb").read()[:40])
    with pytest.raises(ValueError, match=r"truncated\.jpg: not a readable image"):
        predict.read_image(truncated)
    pred = inference.predictor_from_keras(tiny_model(num_classes=21))
    skipped = []
    written = predict.predict_files(   # photo2 is 33x33 = 1089 pixels
        pred, [str(truncated)] + paths, tmp_path / "out", colours=viz.palette(),
        progress=False, max_pixels=1000, skipped=skipped, batch_size=2)
    reasons = dict(skipped)
    assert "not a readable image" in reasons[str(truncated)]
    assert "33x33" in reasons[paths[2]] and "--max_pixels=1000" in reasons[paths[2]]
    assert sorted(written) == sorted(str(tmp_path / "out" / f"photo{i}.png") for i in (0, 1))
    assert all(os.path.exists(p) for p in written)
    with pytest.raises(ValueError, match="truncated.jpg"):   # without a list: the first stops
        predict.predict_files(pred, [str(truncated)] + paths, tmp_path / "out2",
                              colours=viz.palette(), progress=False)


def test_cli_official_model_reproduces_golden_mask_and_bad_flags(tmp_path):
    folder = shared_path("official")
    out = _cli(f"--model={folder / 'deeplabv3_257_mv_gpu.tflite'}",
               f"--images={folder / 'segmentation_input_rotation0.jpg'}",
               f"--output_dir={tmp_path}")
    assert out.returncode == 0, out.stderr[-2000:]
    mask = Image.open(tmp_path / "segmentation_input_rotation0.png")
    golden = np.asarray(Image.open(folder / "segmentation_golden_rotation0.png")) // 10
    assert mask.mode == "P" and mask.size == (257, 257)
    assert (np.asarray(mask) != golden).sum() == 0
    out = _cli(f"--model={folder / 'deeplabv3_257_mv_gpu.tflite'}",
               f"--images={tmp_path / 'nothing' / '*.jpg'}", f"--output_dir={tmp_path}")
    assert out.returncode != 0 and "predict: error: --images=" in out.stderr
    assert "matches no file" in out.stderr


def test_palettes_index_pngs_overlays_and_plots(tmp_path):
    voc, cityscapes = viz.palette("voc2012"), viz.palette("cityscapes")
    # VOC devkit colour map: 1 aeroplane (128,0,0), 15 person (192,128,128), 255 boundary.
    assert tuple(voc[1]) == (128, 0, 0) and tuple(voc[15]) == (192, 128, 128)
    assert tuple(voc[255]) == (224, 224, 192)
    assert tuple(cityscapes[0]) == (128, 64, 128) and len(viz.class_names("cityscapes")) == 19
    labels = np.array([[0, 1, 255], [15, 20, 3]])
    path = viz.save_index_png(labels, tmp_path / "m.png", voc)
    assert Image.open(path).mode == "P"
    np.testing.assert_array_equal(viz.read_index_png(path), labels)
    image = np.full((2, 3, 3), 100, np.uint8)
    over = viz.overlay(image, labels, voc, alpha=0.5)
    assert tuple(over[0, 2]) == (100, 100, 100)             # ignore: untouched
    assert tuple(over[0, 1]) == (114, 50, 50)               # (100 + 128) / 2, 100 / 2
    with pytest.raises(ValueError, match=r"overlay: image \(2, 2\) and labels \(2, 3\) differ"):
        viz.overlay(image[:, :2], labels, voc)
    plot = viz.plot_confusion_matrix(np.array([[5, 1], [0, 4]]), ["a", "b"], tmp_path / "cm.png")
    assert Image.open(plot).size[0] > 100
    panel = viz.panel(image, labels, tmp_path / "p.png", voc, viz.class_names(), crf=labels,
                      label=labels)
    assert Image.open(panel).size[0] > Image.open(panel).size[1]

"""The embedded synthetic dataset: deterministic, VOC layout, all classes, prepared in one call."""
import os

import numpy as np
from PIL import Image

from deeplab_tf.data import records, synthetic


def test_same_seed_same_files_other_seed_other_files(tmp_path):
    a = synthetic.write_synthetic(str(tmp_path / "a"), 3, 2, 40, seed=5)
    b = synthetic.write_synthetic(str(tmp_path / "b"), 3, 2, 40, seed=5)
    c = synthetic.write_synthetic(str(tmp_path / "c"), 3, 2, 40, seed=6)
    for sub in ("JPEGImages", "SegmentationClass"):
        for name in os.listdir(os.path.join(a, sub)):
            data = open(os.path.join(a, sub, name), "rb").read()
            assert data == open(os.path.join(b, sub, name), "rb").read()
    jpeg = "JPEGImages/synth_train_00000.jpg"
    assert open(os.path.join(a, jpeg), "rb").read() != open(os.path.join(c, jpeg), "rb").read()
    assert open(os.path.join(a, "ImageSets/Segmentation/val.txt")).read().split() == [
        "synth_val_00000", "synth_val_00001"]


def test_scenes_hold_every_class_thin_parts_and_ignore_bands():
    counts = np.zeros(256, np.int64)
    for i in range(30):
        _, label = synthetic.make_example(np.random.default_rng([0, 0, i]), 64, 64)
        counts += np.bincount(label.ravel(), minlength=256)
    assert all(counts[c] > 0 for c in range(5)) and counts[255] > 0
    assert set(np.nonzero(counts)[0]) == {0, 1, 2, 3, 4, 255}


def test_labels_are_palette_pngs_and_ensure_is_idempotent(tmp_path):
    out = synthetic.ensure_synthetic(str(tmp_path), num_train=4, num_val=2, size=33, seed=0)
    info = records.read_info(out)
    assert info["splits"]["train"]["num_examples"] == 4 and info["dataset"] == "synthetic"
    png = Image.open(tmp_path / "raw/synthetic/SegmentationClass/synth_train_00000.png")
    assert png.mode == "P" and png.size == (33, 33)
    stamp = os.path.getmtime(os.path.join(out, info["splits"]["train"]["files"][0]))
    assert synthetic.ensure_synthetic(str(tmp_path), 4, 2, 33, 0) == out
    assert os.path.getmtime(os.path.join(out, info["splits"]["train"]["files"][0])) == stamp
    synthetic.ensure_synthetic(str(tmp_path), 5, 2, 33, 0)     # other parameters: remade
    assert records.read_info(out)["splits"]["train"]["num_examples"] == 5

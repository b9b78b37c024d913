"""voc2012_aug: VOC train + SBD train/val minus VOC val, SBD .mat labels, SBD as benchmark.tgz.

No real SBD file is available offline: the .mat files here are written with scipy in SBD's
format (struct GTcls with field Segmentation, uint8 class indices).
"""
import shutil
import tarfile

import numpy as np
import pytest
import scipy.io
from PIL import Image

from deeplab_tf.data import prepare
from tests.conftest import shared_path
from tests.data.conftest import read_records


def _sbd(root, rng):
    dataset = root / "benchmark_RELEASE" / "dataset"
    (dataset / "img").mkdir(parents=True)
    (dataset / "cls").mkdir()
    labels = {}
    for image_id in ("2008_000001", "2007_000032", "2007_000129"):
        label = rng.integers(0, 21, size=(30, 40)).astype(np.uint8)
        labels[image_id] = label
        Image.fromarray(rng.integers(0, 255, (30, 40, 3), dtype=np.uint8)).save(
            dataset / "img" / f"{image_id}.jpg")
        scipy.io.savemat(dataset / "cls" / f"{image_id}.mat",
                         {"GTcls": {"Segmentation": label, "CategoriesPresent": np.unique(label),
                                    "Boundaries": np.zeros(1)}})
    (dataset / "train.txt").write_text("2008_000001\n2007_000129\n")   # 129 is VOC val
    (dataset / "val.txt").write_text("2007_000032\n")
    return labels


def test_train_aug_from_voc_folder_and_sbd_archive(tmp_path):
    voc = shared_path("voc")
    raw = tmp_path / "raw"
    shutil.copytree(voc / "VOCdevkit", raw / "VOCdevkit")
    labels = _sbd(tmp_path / "sbd", np.random.default_rng(0))
    with tarfile.open(raw / "benchmark.tgz", "w:gz") as tar:
        tar.add(tmp_path / "sbd" / "benchmark_RELEASE", arcname="benchmark_RELEASE")
    out = tmp_path / "out"
    summary = prepare.prepare("voc2012_aug", str(raw), str(out), progress=False)
    assert summary["splits"]["train_aug"]["num_examples"] == 3
    train = read_records(str(out), "train_aug")
    assert sorted(train) == ["2007_000032", "2007_000063", "2008_000001"]   # val excluded
    np.testing.assert_array_equal(train["2008_000001"][1], labels["2008_000001"])  # from .mat
    voc_label = np.asarray(Image.open(voc / "VOCdevkit/VOC2012/SegmentationClass/"
                                      "2007_000032.png"))
    np.testing.assert_array_equal(train["2007_000032"][1], voc_label)   # VOC label preferred
    assert sorted(read_records(str(out), "val")) == ["2007_000129"]


def test_missing_sbd_is_a_clear_error(tmp_path):
    voc = shared_path("voc")
    with pytest.raises(prepare.PrepareError, match="no SBD layout found"):
        prepare.prepare("voc2012_aug", str(voc), str(tmp_path), progress=False)

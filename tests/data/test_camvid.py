"""CamVid as the SegNet tutorial ships it (../shared/data/camvid): the built-in reader and the
same files through a user's dataset.json (the README's worked example)."""
import json
import os

import numpy as np
import pytest

from deeplab_tf.data import datasets, prepare, sources
from tests.conftest import shared_path
from tests.data.conftest import read_records


@pytest.fixture(scope="module")
def camvid_records(tmp_path_factory):
    raw = shared_path("camvid")
    out = tmp_path_factory.mktemp("camvid")
    # The held-out test split is not in the shared folder: prepare train and val.
    summary = prepare.prepare("camvid", str(raw), str(out), splits=["train", "val"],
                              progress=False)
    return raw, out, summary


def test_camvid_prepare_on_the_real_files(camvid_records):
    raw, out, summary = camvid_records
    assert summary["dataset"] == "camvid" and len(summary["class_names"]) == 11
    assert {s: e["num_examples"] for s, e in summary["splits"].items()} == {
        "train": 367, "val": 101}
    val = read_records(str(out), "val")
    assert len(val) == 101 and "0016E5_07959" in val
    values = np.unique(np.concatenate([np.unique(label) for _, label, _ in val.values()]))
    assert set(values.tolist()) <= set(range(11)) | {255}
    assert 255 in values and 10 in values   # Unlabelled (11) became the ignore label
    image, label, _ = val["0016E5_07959"]
    assert image.shape == (360, 480, 3) and label.shape == (360, 480)
    # Pixel counts of the statistics match the records.
    counts = np.sum([np.bincount(lab.ravel(), minlength=256)[:11] for _, lab, _ in val.values()],
                    axis=0)
    assert summary["splits"]["val"]["label_statistics"]["class_pixels"] == counts.tolist()


def test_the_tutorial_prefix_is_resolved_against_the_folder():
    raw = shared_path("camvid")
    first = (raw / "train.txt").read_text().split()[0]
    assert first.startswith("/SegNet/CamVid/train/")
    examples = sources.find_examples("camvid", [str(raw)], "train")
    assert len(examples) == 367
    assert examples[0].image_path == os.path.join(str(raw), "train", os.path.basename(first))
    assert examples[0].label_path.startswith(os.path.join(str(raw), "trainannot"))
    with pytest.raises(sources.LayoutError, match="test.txt"):
        sources.find_examples("camvid", [str(raw)], "test")


def test_the_same_data_through_a_dataset_json(tmp_path, camvid_records):
    raw, out, summary = camvid_records
    info = datasets.get_dataset("camvid")
    os.symlink(raw, tmp_path / "CamVid")   # the user's folder holds the download
    spec = {"name": "camvid_mine", "class_names": list(info.class_names), "ignore_label": 11,
            "label_format": "index", "palette": [list(c) for c in info.palette],
            "splits": {"val": "CamVid/val.txt"}}
    (tmp_path / "dataset.json").write_text(json.dumps(spec))
    mine = prepare.prepare(str(tmp_path / "dataset.json"), None, str(tmp_path / "out"),
                           progress=False)
    ours = read_records(str(out), "val")
    theirs = read_records(str(tmp_path / "out"), "val")
    assert sorted(ours) == sorted(theirs)
    for key in ("0016E5_07959", "0016E5_08159"):
        np.testing.assert_array_equal(ours[key][1], theirs[key][1])
    assert (mine["splits"]["val"]["label_statistics"]
            == summary["splits"]["val"]["label_statistics"])

"""prepare on the real VOC and Cityscapes samples: reading back gives the original labels."""
import os
import shutil
import tarfile
import zipfile

import numpy as np
from PIL import Image

from deeplab_tf.data import prepare
from deeplab_tf.data.datasets import cityscapes_label_id_to_train_id
from tests.conftest import shared_path
from tests.data.conftest import read_records


def test_voc_labels_read_back_exactly(tmp_path):
    voc = shared_path("voc")
    root = voc / "VOCdevkit" / "VOC2012"
    summary = prepare.prepare("voc2012", str(voc), str(tmp_path), progress=False)
    assert {s: e["num_examples"] for s, e in summary["splits"].items()} == {"train": 2, "val": 1}
    examples = {**read_records(str(tmp_path), "train"), **read_records(str(tmp_path), "val")}
    assert sorted(examples) == ["2007_000032", "2007_000063", "2007_000129"]
    for image_id, (image, label, image_bytes) in examples.items():
        palette_png = Image.open(root / "SegmentationClass" / f"{image_id}.png")
        assert palette_png.mode == "P"
        indices = np.asarray(palette_png)          # PIL gives the palette indices
        raw = np.asarray(Image.open(root / "SegmentationClassRaw" / f"{image_id}.png"))
        np.testing.assert_array_equal(label, indices)
        np.testing.assert_array_equal(label, raw)
        assert set(np.unique(label)) <= set(range(21)) | {255}
        assert len(set(np.unique(label)) - {0, 255}) >= 1   # real objects, not all background
        # The image is stored byte for byte (no re-encoding).
        assert image_bytes == (root / "JPEGImages" / f"{image_id}.jpg").read_bytes()


def test_prepare_is_idempotent_and_reads_archives(tmp_path):
    voc = shared_path("voc")
    first = tmp_path / "first"
    prepare.prepare("voc2012", str(voc), str(first), progress=False)
    again = {n: (first / n).read_bytes() for n in os.listdir(first)}
    prepare.prepare("voc2012", str(voc), str(first), progress=False)
    assert {n: (first / n).read_bytes() for n in os.listdir(first)} == again
    # The official archive layout (VOCtrainval_11-May-2012.tar holds VOCdevkit/...), read
    # directly: extracted only inside the output folder, same records.
    archives = tmp_path / "archives"
    archives.mkdir()
    with tarfile.open(archives / "VOCtrainval_11-May-2012.tar", "w") as tar:
        tar.add(voc / "VOCdevkit", arcname="VOCdevkit")
    from_tar = tmp_path / "from_tar"
    prepare.prepare("voc2012", str(archives), str(from_tar), progress=False)
    for name in again:
        assert (from_tar / name).read_bytes() == again[name], name
    assert sorted(os.listdir(archives)) == ["VOCtrainval_11-May-2012.tar"]
    assert (from_tar / ".raw" / "VOCtrainval_11-May-2012" / "VOCdevkit").is_dir()


def _labels_via_numpy(label_ids_png):
    table = np.asarray(cityscapes_label_id_to_train_id(), np.uint8)
    return table[np.asarray(Image.open(label_ids_png))]


def test_cityscapes_train_ids_match_the_official_table(tmp_path):
    cityscapes = shared_path("cityscapes")
    base = "frankfurt_000000_000294"
    prepare.prepare("cityscapes", str(cityscapes), str(tmp_path / "out"), splits=["val"],
                    progress=False)
    (image, label, _), = read_records(str(tmp_path / "out"), "val").values()
    expected = _labels_via_numpy(cityscapes / "gtFine" / "val" / "frankfurt" /
                                 f"{base}_gtFine_labelIds.png")
    np.testing.assert_array_equal(label, expected)
    assert set(np.unique(label)) <= set(range(19)) | {255} and len(np.unique(label)) > 5
    original = np.asarray(Image.open(cityscapes / "leftImg8bit" / "val" / "frankfurt" /
                                     f"{base}_leftImg8bit.png").convert("RGB"))
    np.testing.assert_array_equal(image, original)
    # The two official zips, read directly.
    zips = tmp_path / "zips"
    zips.mkdir()
    for folder, name in (("leftImg8bit", "leftImg8bit_trainvaltest.zip"),
                         ("gtFine", "gtFine_trainvaltest.zip")):
        with zipfile.ZipFile(zips / name, "w") as archive:
            for path in (cityscapes / folder).rglob("*.png"):
                archive.write(path, str(path.relative_to(cityscapes)))
    prepare.prepare("cityscapes", str(zips), str(tmp_path / "from_zip"), splits=["val"],
                    progress=False)
    (_, label_zip, _), = read_records(str(tmp_path / "from_zip"), "val").values()
    np.testing.assert_array_equal(label_zip, expected)
    shutil.rmtree(tmp_path / "zips")

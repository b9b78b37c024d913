"""The TFDS `cityscapes` builder as a source, offline, from zips made of the real sample.

That builder needs the two official zips in its manual folder, train/val/test folders in them,
and 2048x1024 images (its features have that fixed shape). The shared sample is a 256x128
folder, so the test zips it after an exact 8x nearest-neighbour upscale (labels stay labels)
and uses it for all three splits. It checks what our side does: labelIds -> trainIds with the
official table, and the same element format as TFRecords.
"""
import zipfile

import numpy as np
from PIL import Image

from deeplab_tf.config import DataConfig
from deeplab_tf.data.datasets import cityscapes_label_id_to_train_id
from deeplab_tf.data.pipeline import build_dataset
from tests.conftest import shared_path

BASE = "frankfurt_000000_000294"


def _upscaled_png(path):
    image = Image.open(path)
    return image.resize((image.width * 8, image.height * 8), Image.NEAREST)


def test_tfds_cityscapes_builder_gives_train_ids(tmp_path):
    sample = shared_path("cityscapes")
    manual = tmp_path / "manual"
    manual.mkdir()
    files = {"leftImg8bit_trainvaltest.zip": ("leftImg8bit", "leftImg8bit"),
             "gtFine_trainvaltest.zip": ("gtFine", "gtFine_labelIds")}
    for zip_name, (folder, suffix) in files.items():
        png = _upscaled_png(sample / folder / "val" / "frankfurt" / f"{BASE}_{suffix}.png")
        png.save(tmp_path / "tmp.png")
        with zipfile.ZipFile(manual / zip_name, "w", zipfile.ZIP_STORED) as archive:
            for split in ("train", "val", "test"):
                archive.write(tmp_path / "tmp.png",
                              f"{folder}/{split}/frankfurt/{BASE}_{suffix}.png")
    config = DataConfig(dataset="cityscapes", source="tfds", batch_size=1,
                        tfds_data_dir=str(tmp_path / "tfds"), tfds_manual_dir=str(manual),
                        eval_crop_size=(1025, 2049), deterministic=True)
    batch = next(iter(build_dataset(config, "val")))
    label_ids = np.asarray(_upscaled_png(sample / "gtFine" / "val" / "frankfurt" /
                                         f"{BASE}_gtFine_labelIds.png"))
    expected = np.asarray(cityscapes_label_id_to_train_id(), np.uint8)[label_ids]
    assert batch["id"].numpy()[0].decode() == BASE
    assert (int(batch["height"][0]), int(batch["width"][0])) == (1024, 2048)
    np.testing.assert_array_equal(batch["label"][0, :1024, :2048].numpy(), expected)
    assert np.all(batch["label"][0, 1024:].numpy() == 255)

"""TFDS as the source: our VOC builder on the real sample (manual folder, no network)."""
import dataclasses

import numpy as np

from deeplab_tf.config import DataConfig
from deeplab_tf.data import prepare
from deeplab_tf.data.pipeline import build_dataset
from tests.conftest import shared_path


def test_voc_builder_matches_the_tfrecord_path(tmp_path):
    voc = shared_path("voc")
    prepare.prepare("voc2012", str(voc), str(tmp_path / "records"), progress=False)
    from_records = DataConfig(dataset="voc2012", data_dir=str(tmp_path / "records"),
                              batch_size=1, deterministic=True)
    from_tfds = dataclasses.replace(from_records, source="tfds", data_dir="",
                                    tfds_data_dir=str(tmp_path / "tfds"),
                                    tfds_manual_dir=str(voc))
    for split in ("train", "val"):
        a = {b["id"].numpy()[0]: b for b in build_dataset(from_records, split, training=False)}
        b = {b["id"].numpy()[0]: b for b in build_dataset(from_tfds, split, training=False)}
        assert sorted(a) == sorted(b) and len(a) == {"train": 2, "val": 1}[split]
        for image_id in a:
            for key in ("label", "height", "width"):
                np.testing.assert_array_equal(a[image_id][key].numpy(), b[image_id][key].numpy())
            # Same JPEG bytes in both stores, so the decoded images are identical too.
            np.testing.assert_array_equal(a[image_id]["image"].numpy(),
                                          b[image_id]["image"].numpy())
    # Training through TFDS uses the same augmentation.
    batch = next(iter(build_dataset(dataclasses.replace(from_tfds, crop_size=(65, 65),
                                                        batch_size=2), "train")))
    assert batch["image"].shape == (2, 65, 65, 3)
    assert set(np.unique(batch["label"])) <= {0, 1, 9, 12, 15, 255}

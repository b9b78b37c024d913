"""Fixtures of the data tests: tiny synthetic raw datasets and helpers to read records back."""
import io

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from deeplab_tf.data import records, synthetic


def read_records(folder, split):
    """{id: (image uint8 [H, W, 3], label uint8 [H, W], raw image bytes)} of a prepared split."""
    out = {}
    for serialized in tf.data.TFRecordDataset(records.split_files(folder, split)):
        f = tf.io.parse_single_example(serialized, records.FEATURES)
        image_bytes = f[records.IMAGE].numpy()
        image = np.asarray(Image.open(io.BytesIO(image_bytes)).convert("RGB"))
        label = np.asarray(Image.open(io.BytesIO(f[records.LABEL].numpy())))
        assert label.ndim == 2, "labels must be single-channel PNGs of class indices"
        assert (int(f[records.HEIGHT]), int(f[records.WIDTH])) == label.shape
        out[f[records.IMAGE_ID].numpy().decode()] = (image, label, image_bytes)
    return out


@pytest.fixture
def raw_synthetic(tmp_path):
    """A fresh tiny synthetic raw dataset (VOC layout): 5 train, 3 val images of 33x41."""
    root = tmp_path / "raw" / "synthetic"
    synthetic.write_synthetic(str(root), num_train=5, num_val=3, size=(33, 41), seed=3)
    return root


@pytest.fixture(scope="session")
def prepared_synthetic(tmp_path_factory):
    """Prepared TFRecords of a small synthetic dataset (12 train, 4 val, 41x49 images)."""
    folder = tmp_path_factory.mktemp("synthetic")
    return synthetic.ensure_synthetic(str(folder), num_train=12, num_val=4, size=(41, 49),
                                      seed=1)

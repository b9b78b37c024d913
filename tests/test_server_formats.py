"""Evaluation-server files (deeplab_tf/server_formats.py): Cityscapes labelIds through the
official table, VOC palette PNGs of the class indices."""
import numpy as np
import pytest
from PIL import Image

from deeplab_tf import server_formats


def test_cityscapes_label_ids_and_voc_palette_pngs(tmp_path):
    from cityscapesscripts.helpers.labels import trainId2label
    train_ids = np.tile(np.arange(19, dtype=np.int64), (3, 1))
    path = server_formats.save_label_ids(train_ids, str(tmp_path / "aachen_000000_000019"),
                                         "cityscapes")
    assert path.endswith("aachen_000000_000019_labelIds.png")
    written = Image.open(path)
    assert written.mode == "L" and written.size == (19, 3)
    assert np.asarray(written)[0].tolist() == [trainId2label[t].id for t in range(19)]
    voc = server_formats.save_label_ids(train_ids % 21, str(tmp_path / "2008_000001"), "voc2012")
    image = Image.open(voc)
    assert image.mode == "P" and np.array_equal(np.asarray(image), train_ids % 21)
    assert image.getpalette()[3:6] == [128, 0, 0]   # VOC colour of class 1 (aeroplane)
    with pytest.raises(ValueError, match="--dataset=camvid has none"):
        server_formats.save_label_ids(train_ids, str(tmp_path / "x"), "camvid")

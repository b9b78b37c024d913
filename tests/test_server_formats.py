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


def test_predict_and_evaluate_write_the_server_files(tmp_path):
    from cityscapesscripts.helpers.labels import trainId2label
    from deeplab_tf import evaluation, inference, predict, viz
    from tests.test_inference import tiny_model
    predictor = inference.predictor_from_keras(tiny_model(num_classes=19))
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (33, 47, 3)).astype(np.uint8)
    photo = tmp_path / "aachen_000000_000019_leftImg8bit.png"
    Image.fromarray(image).save(photo)
    predict.predict_files(predictor, [str(photo)], tmp_path / "out", colours=viz.palette(
        "cityscapes"), progress=False, label_ids_dataset="cityscapes")
    ids = np.asarray(Image.open(tmp_path / "out" / "label_ids" /
                                "aachen_000000_000019_leftImg8bit_labelIds.png"))
    mask = np.asarray(Image.open(tmp_path / "out" / "aachen_000000_000019_leftImg8bit.png"))
    assert ids.shape == (33, 47)
    lookup = np.asarray([trainId2label[t].id for t in range(19)])
    np.testing.assert_array_equal(ids, lookup[mask])
    label = rng.integers(0, 19, (33, 47))
    evaluation.evaluate(predictor, [("frankfurt_000000_000294", image, label, "x")], 19,
                        class_names=[str(i) for i in range(19)], progress=False,
                        label_ids_dir=str(tmp_path / "eval"), label_ids_dataset="cityscapes")
    assert (tmp_path / "eval" / "frankfurt_000000_000294_labelIds.png").is_file()

"""Dataset facts: the Cityscapes id table, the VOC colour map, split sizes."""
import pytest

from deeplab_tf.data import datasets


def test_cityscapes_table_is_the_official_one():
    table = datasets.cityscapes_label_id_to_train_id()
    # cityscapesScripts labels.py: 19 train ids, each from exactly one labelId.
    mapped = {label_id: table[label_id] for label_id in range(34) if table[label_id] != 255}
    assert sorted(mapped.values()) == list(range(19))
    assert mapped[7] == 0 and mapped[8] == 1 and mapped[11] == 2 and mapped[23] == 10
    assert mapped[24] == 11 and mapped[26] == 13 and mapped[33] == 18
    assert all(table[i] == 255 for i in (0, 1, 2, 3, 4, 5, 6, 9, 10, 14, 15, 16, 18, 29, 30))
    assert all(v == 255 for v in table[34:])
    info = datasets.get_dataset("cityscapes")
    assert info.num_classes == 19 and info.class_names[0] == "road"
    assert info.class_names[18] == "bicycle" and len(info.palette) == 19


def test_voc_facts():
    info = datasets.get_dataset("voc2012")
    assert info.num_classes == 21 and info.ignore_label == 255
    assert info.splits == {"train": 1464, "val": 1449, "trainval": 2913}
    assert datasets.get_dataset("voc2012_aug").splits["train_aug"] == 10582
    colormap = datasets.voc_colormap()
    # Devkit colours: background black, aeroplane dark red, person (15) pinkish, 255 cream.
    assert colormap[0] == (0, 0, 0) and colormap[1] == (128, 0, 0)
    assert colormap[15] == (192, 128, 128) and colormap[255] == (224, 224, 192)
    assert info.label_palette()[255] == (224, 224, 192)


def test_unknown_dataset_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown dataset 'coco'.*cityscapes"):
        datasets.get_dataset("coco")


def test_cityscapes_facts_come_from_cityscapesscripts():
    from cityscapesscripts.helpers.labels import id2label, trainId2label
    from deeplab_tf.data import datasets
    assert datasets.CITYSCAPES_CLASSES[0] == "road" and datasets.CITYSCAPES_CLASSES[-1] == \
        "bicycle" and len(datasets.CITYSCAPES_CLASSES) == 19
    to_train = datasets.cityscapes_label_id_to_train_id()
    to_label = datasets.cityscapes_train_id_to_label_id()
    for train_id in range(19):
        label = trainId2label[train_id]
        assert datasets.CITYSCAPES_PALETTE[train_id] == tuple(label.color)
        assert to_label[train_id] == label.id and to_train[label.id] == train_id
    assert [to_train[i] for i in (0, 7, 9, 33)] == [255, 0, 255, 18]   # unlabeled, road, parking
    assert id2label[7].name == "road" and to_label[255] == 0

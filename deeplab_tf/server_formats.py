"""Predictions in the file formats of the benchmarks' evaluation servers (predict and
evaluate --save_label_ids write them into OUTPUT/label_ids/):

  cityscapes   NAME_labelIds.png: 8-bit grey PNGs of the official label ids (trainId ->
               labelId through cityscapesScripts' table; the server and cityscapesScripts'
               evalPixelLevelSemanticLabeling match them to the images by the
               city_sequence_frame part of NAME), at the input image size;
  voc2012      NAME.png: indexed (mode "P") PNGs with the VOC colour map whose pixel values
               are the class indices 0..20, what the PASCAL VOC server takes (in
               results/VOC2012/Segmentation/comp6_test_cls/ of the upload).
"""
import numpy as np

FORMATS = {"cityscapes": "_labelIds.png", "voc2012": ".png", "voc2012_aug": ".png"}


def check_dataset(dataset):
    """ValueError naming --dataset unless it has a server format."""
    if dataset not in FORMATS:
        raise ValueError(f"--save_label_ids writes evaluation-server files for "
                         f"{', '.join(sorted(FORMATS))}; --dataset={dataset} has none (NAME.png "
                         "already holds the class indices)")


def save_label_ids(labels, stem, dataset):
    """Writes the class map `labels` [H, W] (training ids) as STEM + suffix; returns the path."""
    from PIL import Image
    from deeplab_tf import viz
    check_dataset(dataset)
    path = f"{stem}{FORMATS[dataset]}"
    labels = np.asarray(labels)
    if dataset == "cityscapes":
        from deeplab_tf.data.datasets import cityscapes_train_id_to_label_id
        table = np.asarray(cityscapes_train_id_to_label_id(), np.uint8)
        Image.fromarray(table[labels.astype(np.uint8)], mode="L").save(path)
        return path
    return viz.save_index_png(labels, path, viz.palette(dataset))

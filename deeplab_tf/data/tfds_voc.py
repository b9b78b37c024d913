"""A TensorFlow Datasets builder for PASCAL VOC 2012 segmentation (+ SBD for train_aug).

tensorflow-datasets ships no VOC segmentation builder (its `voc` is detection only). This one
reads the same layouts as prepare.py (with the same checks and palette decoding), from the
manual folder when it holds them, otherwise from the official archives it downloads:

  import deeplab_tf.data.tfds_voc  # registers "voc2012_segmentation"
  tfds.builder("voc2012_segmentation/voc2012", data_dir=...).download_and_prepare(
      download_config=tfds.download.DownloadConfig(manual_dir=RAW))

Configs: "voc2012" (splits train, val) and "voc2012_aug" (train_aug, val). Features: "image"
(JPEG), "segmentation_mask" uint8 [H, W, 1] class indices (255 = ignore), "file_name" (id).
"""
import io
import os

import numpy as np
import tensorflow_datasets as tfds
from PIL import Image

from deeplab_tf.data import sources
from deeplab_tf.data.datasets import get_dataset
from deeplab_tf.data.raw_examples import check_example

# Official addresses (PASCAL VOC site; Berkeley SBD page).
VOC_URL = "https://host.robots.ox.ac.uk/pascal/VOC/voc2012/VOCtrainval_11-May-2012.tar"
SBD_URL = ("https://www2.eecs.berkeley.edu/Research/Projects/CS/vision/grouping/"
           "semantic_contours/benchmark.tgz")


class Voc2012Segmentation(tfds.core.GeneratorBasedBuilder):
    """PASCAL VOC 2012 semantic segmentation, optionally with the SBD train_aug split."""

    name = "voc2012_segmentation"
    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "VOC 2012 segmentation and train_aug (VOC + SBD)."}
    BUILDER_CONFIGS = [
        tfds.core.BuilderConfig(name="voc2012", description="VOC 2012: train 1,464, val 1,449"),
        tfds.core.BuilderConfig(name="voc2012_aug",
                                description="train_aug 10,582 (VOC train + SBD - VOC val), val"),
    ]
    MANUAL_DOWNLOAD_INSTRUCTIONS = (
        "Optional: place the extracted VOCdevkit/VOC2012 folder (and for voc2012_aug SBD's "
        "benchmark_RELEASE folder) in the manual folder; otherwise the official archives "
        f"are downloaded from {VOC_URL} and {SBD_URL}.")

    def _info(self):
        info = get_dataset(self.builder_config.name)
        return self.dataset_info_from_configs(
            description=f"PASCAL VOC 2012 segmentation; classes: {', '.join(info.class_names)}",
            features=tfds.features.FeaturesDict({
                "image": tfds.features.Image(shape=(None, None, 3), encoding_format="jpeg"),
                "segmentation_mask": tfds.features.Image(shape=(None, None, 1),
                                                         encoding_format="png"),
                "file_name": tfds.features.Text(),
            }),
            homepage="https://host.robots.ox.ac.uk/pascal/VOC/voc2012/",
        )

    def _roots(self, dl_manager):
        dataset = self.builder_config.name
        splits = get_dataset(dataset).default_splits
        try:
            roots = [os.fspath(dl_manager.manual_dir)]
            for split in splits:
                sources.find_examples(dataset, roots, split)
            return roots
        except (AssertionError, sources.LayoutError):
            urls = {"voc": VOC_URL}
            if dataset == "voc2012_aug":
                urls["sbd"] = SBD_URL
            return [os.fspath(p) for p in dl_manager.download_and_extract(urls).values()]

    def _split_generators(self, dl_manager):
        roots = self._roots(dl_manager)
        return {split: self._generate_examples(roots, split)
                for split in get_dataset(self.builder_config.name).default_splits}

    def _generate_examples(self, roots, split):
        dataset = self.builder_config.name
        info = get_dataset(dataset)
        for example in sources.find_examples(dataset, roots, split):
            checked = check_example(example, info)   # BadExample names the file
            label = np.asarray(Image.open(io.BytesIO(checked.label_png)), np.uint8)
            yield example.id, {"image": example.image_path,
                               "segmentation_mask": label[:, :, None],
                               "file_name": example.id}

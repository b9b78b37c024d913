"""Frozen configuration dataclasses, and the one place that reads absl FLAGS (from_flags).

The library takes these dataclasses (or explicit arguments), never FLAGS, so it is usable from
a notebook. Entry points build them with from_flags() after validating the flags.
"""
import dataclasses
from typing import Optional, Tuple


# ---------------------------------------------------------------------------------------------
# Data (deeplab_tf.data.pipeline.build_dataset)
# ---------------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class DataConfig:
    """What the tf.data pipeline needs. Defaults are the official research/deeplab ones."""
    dataset: str = "synthetic"            # a deeplab_tf.data.datasets.DATASETS key
    data_dir: str = ""                    # folder of prepared TFRecord shards
    source: str = "tfrecord"              # "tfrecord" | "tfds"
    tfds_data_dir: Optional[str] = None
    batch_size: int = 8                   # global batch (split across replicas)
    crop_size: Tuple[int, int] = (513, 513)
    # Random scale 0.5..2.0 in steps of 0.25 (official train.py min/max_scale_factor,
    # scale_factor_step_size).
    min_scale: float = 0.5
    max_scale: float = 2.0
    scale_step: float = 0.25
    flip: bool = True
    # Images are padded with the backbone's mean pixel (what its preprocessing maps to 0),
    # labels with the ignore label (official input_preprocess.py).
    mean_pixel: Tuple[float, float, float] = (127.5, 127.5, 127.5)
    ignore_label: int = 255
    # Evaluation: pad each image to a crop of the form OS*k+1 (None: the smallest such crop that
    # holds the whole image) and remember the valid region to crop predictions back.
    eval_crop_size: Optional[Tuple[int, int]] = None
    output_stride: int = 16
    shuffle_buffer: int = 256
    deterministic: bool = False
    seed: int = 0

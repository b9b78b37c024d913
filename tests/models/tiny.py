"""Tiny settings shared by the model tests: narrow widths, 3 classes."""
from deeplab_tf.models.presets import PRESETS

NUM_CLASSES = 3
# Per-key tiny values, applied when the preset has the key. Head widths (aspp_depth 256,
# decoder_depth 256, low_level_depth 48, fc_depth 1024) scale with width_multiplier too.
_TINY = {"width_multiplier": 0.125}


def tiny_overrides(preset):
    return {k: v for k, v in _TINY.items() if k in PRESETS[preset]}


def build_tiny(preset, output_stride=None, **extra):
    from deeplab_tf.models.builder import build_model
    return build_model(preset, num_classes=NUM_CLASSES, output_stride=output_stride,
                       **{**tiny_overrides(preset), **extra})

"""Tiny settings shared by the model tests: narrow widths, 3 classes."""
import importlib.util

import pytest

from deeplab_tf.models.presets import PRESETS

NUM_CLASSES = 3
# Per-key tiny values, applied when the preset has the key. Head widths (aspp_depth 256,
# decoder_depth 256, low_level_depth 48, fc_depth 1024) scale with width_multiplier too.
_TINY = {"width_multiplier": 0.125}


def tiny_overrides(preset):
    return {k: v for k, v in _TINY.items() if k in PRESETS[preset]}


def needs_backbone_module(preset):
    """Skip MobileNetV2 presets only while backbones/mobilenet_v2.py does not exist."""
    from deeplab_tf.models.backbones import get_backbone
    module = get_backbone(PRESETS[preset]["backbone"]).module
    if importlib.util.find_spec(f"deeplab_tf.models.backbones.{module}") is None:
        pytest.skip(f"deeplab_tf/models/backbones/{module}.py is not there yet")


def build_tiny(preset, output_stride=None, **extra):
    from deeplab_tf.models.builder import build_model
    needs_backbone_module(preset)
    return build_model(preset, num_classes=NUM_CLASSES, output_stride=output_stride,
                       **{**tiny_overrides(preset), **extra})

"""Every preset x output stride {8, 16} x odd/even input: logits at input size (a preset
whose architecture fixes its output stride, FCN / SegNet / Dilation, at that one)."""
import numpy as np
import pytest

from deeplab_tf.models.backbones import get_backbone
from deeplab_tf.models.presets import PRESETS
from tests.models.tiny import NUM_CLASSES, build_tiny


def _cases():
    for preset in sorted(PRESETS):
        allowed = get_backbone(PRESETS[preset]["backbone"]).output_strides
        strides = [s for s in (8, 16) if s in allowed] or [PRESETS[preset]["output_stride"]]
        for output_stride in strides:
            yield preset, output_stride


@pytest.mark.parametrize("preset,output_stride", list(_cases()))
def test_logits_shape_at_input_resolution(preset, output_stride):
    model = build_tiny(preset, output_stride)
    assert model.name == preset
    rng = np.random.default_rng(0)
    for size in (33, 32):  # OS*k+1 and even
        images = rng.uniform(0, 255, (1, size, size + 2, 3)).astype("float32")
        logits = model(images, training=False)
        assert tuple(logits.shape) == (1, size, size + 2, NUM_CLASSES)
        assert logits.dtype == "float32"
        assert np.all(np.isfinite(logits.numpy()))

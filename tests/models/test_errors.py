"""Bad inputs give a ValueError naming the argument, the value and what is allowed."""
import subprocess
import sys

import pytest

from deeplab_tf.models.backbones import get_backbone
from deeplab_tf.models.backbones.atrous import AtrousRule
from deeplab_tf.models.builder import build_model, model_info
from tests.conftest import REPO


def test_unknown_preset():
    with pytest.raises(ValueError, match=r"preset='deeplabv9'.*allowed: \[.*deeplabv3_resnet101"):
        build_model("deeplabv9")


@pytest.mark.parametrize("output_stride", [4, 12, 64, 0])
def test_output_stride_outside_allowed(output_stride):
    with pytest.raises(ValueError, match=rf"output_stride={output_stride}.*allowed: \(8, 16, 32\)"):
        model_info("deeplabv3_resnet101", output_stride=output_stride)


@pytest.mark.parametrize("num_classes", [0, -3, 2.5, True])
def test_num_classes_below_one(num_classes):
    with pytest.raises(ValueError, match=r"num_classes=.*>= 1"):
        model_info("deeplabv3_resnet101", num_classes=num_classes)


def test_unknown_override():
    with pytest.raises(ValueError, match=r"override decoder_depth=16.*deeplabv3_resnet101.*"
                                         r"allowed overrides: \[.*aspp_depth"):
        model_info("deeplabv3_resnet101", decoder_depth=16)


def test_unknown_backbone_override():
    with pytest.raises(ValueError, match=r"backbone='resnet152'.*allowed"):
        model_info("deeplabv3_resnet101", backbone="resnet152")


def test_backbone_cannot_reach_stride():
    with pytest.raises(ValueError, match=r"output_stride=4 cannot be reached by backbone "
                                         r"'xception65'.*give 8"):
        AtrousRule(4, "xception65").unit(8)
    short = AtrousRule(32, "vgg16")
    short.unit(2)
    with pytest.raises(ValueError, match=r"output_stride=32 cannot be reached.*only 2"):
        short.check_reached()


def test_backbone_builder_rejects_unreachable_stride():
    import keras
    spec = get_backbone("resnet50")
    with pytest.raises(ValueError, match=r"output_stride=6 cannot be reached by backbone "
                                         r"'resnet_v1_50'"):
        spec.build(keras.Input((33, 33, 3)), output_stride=6, bn=spec.bn, width_multiplier=0.125)


def test_summary_cli_bad_flags_exit_nonzero():
    proc = subprocess.run(
        [sys.executable, "-m", "deeplab_tf.summary", "--preset=deeplabv9"], cwd=REPO,
        capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0
    assert "--preset='deeplabv9' is unknown; allowed:" in proc.stderr

"""Official TFLite files converted into our Keras models reproduce the official outputs."""
import numpy as np
from PIL import Image

import deeplab_tf

from tests.weights.conftest import FLOAT_FILE, QUANT_FILE, load_rgb, logits, official, run_litert


def test_float_file_architecture_read_from_file(converted_float):
    model, arch, seconds = converted_float
    assert arch.preset == "deeplabv3_mobilenetv2_dm05"
    assert model.count_params() == deeplab_tf.preset_info(arch.preset)["params"]   # 21 classes
    assert (arch.depth_multiplier, arch.output_stride, arch.num_classes, arch.input_size) == (
        0.5, 8, 21, (257, 257))
    assert seconds < 30, f"conversion took {seconds:.1f} s (issue 3: under 30 s on 2 cores)"


def test_float_file_logits_match_litert_and_google_golden_mask(converted_float):
    model, _, _ = converted_float
    image = load_rgb("segmentation_input_rotation0.jpg")  # already 257x257, as Google's test
    assert image.shape == (257, 257, 3)
    reference = run_litert(official(FLOAT_FILE), image)
    # Our model takes 0..255 pixels (preprocessing inside); LiteRT gets (x - 127.5) / 127.5.
    ours = logits(model, image)
    assert ours.shape == reference.shape == (257, 257, 21)
    max_diff = float(np.abs(ours - reference).max())
    assert max_diff < 1e-3, f"max |logit difference| {max_diff:.2e} (allowed 1e-3)"
    golden = np.asarray(Image.open(official("segmentation_golden_rotation0.png"))) // 10
    agreement = float((ours.argmax(-1) == golden).mean())
    assert agreement >= 0.999, f"argmax equals the golden mask on {agreement:.4%} of pixels"


def test_quant_file_architecture_read_from_file(converted_quant):
    _, arch, seconds = converted_quant
    assert arch.preset == "deeplabv3_mobilenetv2"
    assert (arch.depth_multiplier, arch.output_stride, arch.num_classes, arch.input_size) == (
        1.0, 16, 21, (513, 513))
    assert seconds < 30


def test_quant_file_argmax_agrees_with_official_int8_model(converted_quant):
    model, _, _ = converted_quant
    for name in ("bird_segmentation.bmp", "segmentation_input_rotation0.jpg"):
        image = load_rgb(name, size=513)
        reference = run_litert(official(QUANT_FILE), image)  # int64 class map [513, 513]
        ours = logits(model, image).argmax(-1)
        agreement = float((ours == reference).mean())
        assert agreement >= 0.97, f"{name}: argmax agrees on {agreement:.4%} of pixels"

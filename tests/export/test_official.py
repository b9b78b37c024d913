"""Exports of the converted official MobileNetV2 models (../shared/data/official).

- The float dm0.5 model (deeplabv3_257_mv_gpu.tflite), converted by deeplab_tf.convert and
  exported to TFLite by us, still reproduces Google's golden mask for its test photo.
- The 8-bit model (deeplabv3_mnv2_pascal_quant.tflite), converted to float Keras and exported
  by us to int8 with calibration crops from the data pipeline (the real VOC samples), agrees
  with the float model on >= 97% of pixels of the official photos.
"""
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from deeplab_tf import export
from tests.conftest import shared_path
from tests.export.conftest import run_tflite


def photo(name, size=None):
    image = Image.open(shared_path("official", name)).convert("RGB")
    if size is not None and image.size != size:
        image = image.resize(size, Image.BILINEAR)
    return np.asarray(image)


def test_float_export_reproduces_the_golden_mask(tmp_path):
    from deeplab_tf.convert import convert
    model, arch, _ = convert("official_tflite", shared_path("official", "deeplabv3_257_mv_gpu.tflite"))
    image = photo("segmentation_input_rotation0.jpg")
    golden = np.asarray(Image.open(shared_path("official", "segmentation_golden_rotation0.png")))
    path = export.export_tflite(model, tmp_path / "dm05.tflite", input_size=image.shape[:2])
    outputs, _, _ = run_tflite(path, image[None])
    labels = outputs["probabilities"][0].argmax(-1)
    # Golden values are class index x 10 (0 background, 13 horse, 15 person).
    mismatched = int((labels * 10 != golden).sum())
    assert mismatched == 0, f"{mismatched} pixels differ from the golden mask"
    expected = tf.nn.softmax(model(image[None].astype(np.float32))).numpy()
    assert np.abs(outputs["probabilities"] - expected).max() < 1e-3


@pytest.fixture(scope="module")
def voc_calibration(tmp_path_factory):
    """16 training crops of 513x513 from build_dataset over the prepared real VOC samples."""
    from deeplab_tf.config import DataConfig
    from deeplab_tf.data import prepare
    out = tmp_path_factory.mktemp("voc_records")
    prepare.prepare("voc2012", str(shared_path("voc")), str(out), splits=["train", "val"],
                    progress=False)
    config = DataConfig(dataset="voc2012", data_dir=str(out), seed=0, deterministic=True)
    return list(export.representative_images_from_pipeline(config, "train", (513, 513), 16))


@pytest.mark.slow  # ~35-60 s: int8 calibration of a full MobileNetV2 at 513x513
def test_int8_export_agrees_with_the_float_model(tmp_path, voc_calibration):
    from deeplab_tf.convert import convert
    model, arch, _ = convert("official_tflite",
                             shared_path("official", "deeplabv3_mnv2_pascal_quant.tflite"))
    assert (arch.preset, arch.output_stride) == ("deeplabv3_mobilenetv2", 16)
    path = export.export_tflite(model, tmp_path / "int8.tflite", input_size=(513, 513),
                                quantize="int8", argmax=True, io_dtype="uint8",
                                representative_data=voc_calibration)
    for name in ("bird_segmentation.bmp", "segmentation_input_rotation0.jpg"):
        image = photo(name, (513, 513))
        outputs, inputs, _ = run_tflite(path, image[None])
        assert inputs["images"]["dtype"] == np.uint8
        expected = model(image[None].astype(np.float32)).numpy().argmax(-1)
        agreement = float((outputs["labels"] == expected).mean())
        # Measured: 99.8% (bird), 98.9% (horse and rider); the issue asks >= 97%.
        assert agreement >= 0.97, f"{name}: int8 argmax agrees on {agreement:.2%} of pixels"

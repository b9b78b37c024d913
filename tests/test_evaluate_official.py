"""Acceptance on real files: the official float model converted by `deeplab_tf.convert`
(issue 3) evaluated on the real VOC samples, its masks on Google's reference photo, the CRF on
its outputs, and evaluation at another output stride."""
import json

import numpy as np
import pytest
from PIL import Image

from deeplab_tf import inference, predict, viz
from deeplab_tf.postprocess import crf
from tests.conftest import shared_path
from tests.test_evaluate import _cli


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    from deeplab_tf.convert import convert
    source = shared_path("official", "deeplabv3_257_mv_gpu.tflite")
    output = tmp_path_factory.mktemp("official") / "mnv2_dm05.keras"
    convert("official_tflite", str(source), output=str(output))
    return output


@pytest.mark.slow
def test_converted_model_reproduces_golden_mask_and_crf_runs_on_its_output(converted, tmp_path):
    folder = shared_path("official")
    predictor = inference.load_predictor(converted)
    written = predict.predict_files(
        predictor, [str(folder / "segmentation_input_rotation0.jpg")], tmp_path,
        colours=viz.palette(), crf_params=crf.default_params(), crf_processes=1, progress=False)
    image = np.asarray(Image.open(folder / "segmentation_input_rotation0.jpg").convert("RGB"))
    golden = np.asarray(Image.open(folder / "segmentation_golden_rotation0.png")) // 10
    labels = inference.predict_labels(predictor, [image])[0]
    assert (labels != golden).sum() == 0                    # measured: 0 mismatched pixels
    refined = np.asarray(Image.open(written[0]))             # the --crf mask
    assert refined.shape == golden.shape and set(np.unique(refined)) <= {0, 13, 15}
    assert (refined == golden).mean() > 0.9                  # the CRF refines, it does not wreck


@pytest.mark.slow
def test_converted_model_on_real_voc_val_with_crf_and_at_output_stride_16(converted, tmp_path):
    voc = shared_path("voc")
    out = _cli(f"--model={converted}", "--dataset=voc2012", f"--data_folder={voc}",
               "--eval_split=val", "--crf", "--crf_processes=2", f"--output_dir={tmp_path / 'a'}")
    assert out.returncode == 0, out.stderr[-3000:]
    assert "mean_iou=" in out.stdout and "without CRF" in out.stdout
    result = json.loads((tmp_path / "a" / "metrics.json").read_text())
    # Measured on 2007_000129: 79.71 mIoU without CRF, 76.21 with (3 classes present).
    assert result["without_crf"]["mean_iou"] > 0.7 and result["mean_iou"] > 0.6
    # The official file runs at OS8; rebuilt at OS16 (same weights) it still segments well.
    out = _cli(f"--model={converted}", "--dataset=voc2012", f"--data_folder={voc}",
               "--eval_split=val", "--output_stride=16", "--num_panels=0",
               f"--output_dir={tmp_path / 'b'}")
    assert out.returncode == 0, out.stderr[-3000:]
    at16 = json.loads((tmp_path / "b" / "metrics.json").read_text())
    assert at16["settings"]["eval_output_stride"] == 16 and at16["mean_iou"] > 0.5
    assert at16["mean_iou"] != result["without_crf"]["mean_iou"]

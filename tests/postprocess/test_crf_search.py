"""crf_search: the v1/v2 grid search over (w1, theta_alpha, theta_beta)."""
import json
import os
import subprocess
import sys

import pytest

from deeplab_tf import crf_search, evaluate, inference, viz
from tests.conftest import REPO
from tests.test_evaluate import make_voc_folder
from tests.test_inference import tiny_model


def test_grid_rows_scores_and_best_agree_with_evaluate(tmp_path):
    folder = make_voc_folder(tmp_path / "voc")
    predictor = inference.predictor_from_keras(tiny_model(num_classes=21))
    candidates = crf_search.grid(["3", "6"], ["30", "100"], ["3"], 3, 3)
    assert len(candidates) == 4 and candidates[-1].w1 == 6 and candidates[-1].theta_alpha == 100
    examples = list(evaluate.folder_examples(folder, "voc2012", "val"))
    result = crf_search.search(predictor, examples, 21, viz.class_names(), candidates,
                               processes=2, progress=False)
    scores = [r["mean_iou"] for r in result["tried"]]
    assert len(scores) == 4 and scores == sorted(scores, reverse=True)
    # The best setting scored by evaluate's own CRF path gives the same mIoU (float16 cache
    # of the probabilities aside).
    from deeplab_tf.postprocess.crf import CRFParams
    check = evaluate.evaluate(predictor, examples, 21, class_names=viz.class_names(),
                              crf_params=CRFParams(**result["best"]), crf_processes=1,
                              progress=False)
    assert check["metrics"]["mean_iou"] == pytest.approx(result["best_mean_iou"], abs=5e-3)
    assert result["without_crf_mean_iou"] == pytest.approx(check["without_crf"]["mean_iou"])
    crf_search.write(result, tmp_path / "out")
    table = (tmp_path / "out" / "crf_search.md").read_text()
    assert table.count("\n| ") == 5   # header + 4 tried settings


@pytest.mark.slow
def test_cli_writes_best_parameters_that_evaluate_reads(tmp_path):
    folder = make_voc_folder(tmp_path / "voc")
    model = tmp_path / "tiny.keras"
    tiny_model(num_classes=21).save(model)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    out = subprocess.run(
        [sys.executable, "-m", "deeplab_tf.crf_search", f"--model={model}", "--dataset=voc2012",
         f"--data_folder={folder}", "--w1=4", "--theta_alpha=50,80", "--theta_beta=3",
         "--crf_processes=2", f"--output_dir={tmp_path / 'search'}"],
        capture_output=True, text=True, cwd=REPO, env=env, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    found = json.loads((tmp_path / "search" / "crf_search.json").read_text())
    assert found["best"]["theta_alpha"] in (50, 80) and len(found["tried"]) == 2
    out = subprocess.run(
        [sys.executable, "-m", "deeplab_tf.evaluate", f"--model={model}", "--dataset=voc2012",
         f"--data_folder={folder}", "--crf", f"--crf_params={tmp_path / 'search/crf_search.json'}",
         "--crf_processes=1", "--num_panels=0", f"--output_dir={tmp_path / 'eval'}"],
        capture_output=True, text=True, cwd=REPO, env=env, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    metrics = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert metrics["settings"]["crf"]["theta_alpha"] == found["best"]["theta_alpha"]
    assert metrics["mean_iou"] == pytest.approx(found["best_mean_iou"], abs=5e-3)

"""RUN/best keeps the weights of the evaluation with the highest mIoU, and every reader takes it."""
import json

import numpy as np

import deeplab_tf
from deeplab_tf.config import ModelConfig
from deeplab_tf.predictors import load_checkpoint, load_predictor
from deeplab_tf.training import checkpoints

TINY = dict(width_multiplier=0.125, aspp_depth=8)


def _model(seed):
    model = deeplab_tf.build_model("deeplabv3_mobilenetv2", num_classes=3, **TINY)
    rng = np.random.default_rng(seed)
    model.set_weights([rng.normal(size=w.shape).astype(np.float32) for w in model.get_weights()])
    return model


def _signature(model):
    config = ModelConfig(preset="deeplabv3_mobilenetv2", num_classes=3, output_stride=16,
                         overrides=tuple(TINY.items()))
    return checkpoints.model_signature(model, config, 3)


def test_only_a_better_evaluation_replaces_the_best(tmp_path):
    model = _model(0)
    best = checkpoints.BestCheckpoint(str(tmp_path), model, _signature(model))
    assert best.record is None
    kept = {}
    for step, miou in ((10, 0.30), (20, 0.50), (30, 0.45), (40, 0.50), (50, 0.55)):
        model.set_weights(_model(step).get_weights())
        if best.update(step, {"mean_iou": miou}, "val"):
            kept[step] = model.get_weights()
    assert sorted(kept) == [10, 20, 50]   # ties do not replace
    record = json.loads((tmp_path / "best" / "best.json").read_text())
    assert record == {"step": 50, "mean_iou": 0.55, "split": "val", "checkpoint": "ckpt-50"}
    assert not list((tmp_path / "best").glob("ckpt-20.*"))   # one checkpoint kept

    # A resumed run reads the record and has to beat it.
    again = checkpoints.BestCheckpoint(str(tmp_path), model, _signature(model))
    assert again.record["step"] == 50 and not again.update(60, {"mean_iou": 0.54}, "val")
    assert checkpoints.read_best(str(tmp_path))["step"] == 50

    # --checkpoint=RUN/best (evaluate, export) and --model=RUN/best (predict) rebuild it.
    restored, prefix = load_checkpoint(str(tmp_path / "best"))
    assert prefix.endswith("ckpt-50")
    for a, b in zip(restored.get_weights(), kept[50]):
        np.testing.assert_array_equal(a, b)
    predictor = load_predictor(str(tmp_path / "best"))
    assert predictor.kind == "keras" and predictor.num_classes == 3

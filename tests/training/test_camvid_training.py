"""A short training on real data: a few CamVid images through a user's dataset.json, prepare ->
train (periodic evaluation keeps RUN/best) -> evaluate --checkpoint=RUN/best, all through the
command lines a user runs."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from deeplab_tf.data import datasets
from deeplab_tf.training.learning_curve import read_scalars
from tests.conftest import REPO, shared_path

# Google's official MobileNetV2 DeepLab file, by name, from a cache holding the shared copy.
# Half-size images and a 10x learning rate on the new class layer: the loss falls within two
# dozen steps of four crops.
SHORT = ["--preset=deeplabv3_mobilenetv2", "--init=official:deeplabv3_mnv2_pascal_quant",
         "--crop_size=161,161", "--min_scale=0.5", "--max_scale=0.5", "--train_batch_size=4",
         "--train_steps=24", "--base_learning_rate=0.005", "--last_layer_gradient_multiplier=10",
         "--fine_tune_batch_norm=false", "--log_every=4", "--summary_every=1",
         "--image_summary_every=0", "--eval_every=8", "--checkpoint_every=8",
         "--export_formats=", "--deterministic", "--seed=3"]


def _run(module, *args, cwd):
    env = {**os.environ, "PYTHONPATH": str(REPO),
           "DEEPLAB_TF_CACHE": str(shared_path("official"))}
    proc = subprocess.run([sys.executable, "-m", module, *args], cwd=cwd, capture_output=True,
                          text=True, timeout=600, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


def test_short_camvid_training_learns_and_keeps_its_best_checkpoint(tmp_path):
    raw = shared_path("camvid")
    os.symlink(raw, tmp_path / "CamVid")
    for split, count in (("train", 12), ("val", 4)):
        lines = (raw / f"{split}.txt").read_text().splitlines()[::30][:count]
        (tmp_path / f"{split}.txt").write_text("\n".join(lines) + "\n")
    info = datasets.get_dataset("camvid")
    spec = {"name": "camvid_few", "class_names": list(info.class_names), "ignore_label": 11,
            "palette": [list(c) for c in info.palette],
            "splits": {"train": "train.txt", "val": "val.txt"}}
    descriptor = tmp_path / "dataset.json"
    descriptor.write_text(json.dumps(spec))
    records, run = tmp_path / "records", tmp_path / "run"
    out = _run("deeplab_tf.data.prepare", f"--dataset={descriptor}", f"--output_dir={records}",
               "--noprogress", cwd=tmp_path)
    assert "train: 12 examples" in out and "val: 4 examples" in out

    out = _run("deeplab_tf.train", f"--dataset={descriptor}", f"--data_dir={records}",
               f"--model_dir={run}", *SHORT, cwd=tmp_path)
    losses = read_scalars(str(run / "train"))["loss"][1]
    assert len(losses) == 24
    assert np.mean(losses[-6:]) < 0.8 * np.mean(losses[:6]), losses

    # RUN/best is the evaluation (periodic or final) with the highest val mIoU.
    steps, ious = read_scalars(str(run / "train"))["eval/mean_iou"]
    assert steps == [8, 16, 24]
    best = json.loads((run / "best" / "best.json").read_text())
    assert best["step"] == steps[int(np.argmax(ious))]
    assert best["mean_iou"] == pytest.approx(max(ious), abs=1e-6) and best["split"] == "val"
    assert f"best: step {best['step']}" in out
    assert (run / "learning_curve.png").stat().st_size > 10_000

    eval_dir = tmp_path / "eval"
    _run("deeplab_tf.evaluate", f"--dataset={descriptor}", f"--data_dir={records}",
         f"--checkpoint={run / 'best'}", f"--output_dir={eval_dir}", "--eval_split=val",
         cwd=tmp_path)
    metrics = json.loads((eval_dir / "metrics.json").read_text())
    assert list(metrics["per_class_iou"]) == list(info.class_names)
    assert abs(metrics["mean_iou"] - best["mean_iou"]) < 1e-6

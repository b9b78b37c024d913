"""Fixtures of the training tests: a tiny prepared synthetic dataset and a CLI runner."""
import os
import subprocess
import sys

import pytest

from tests.conftest import REPO

# A tiny real model: MobileNetV2 v3 head at 1/8 width (8-channel layers).
TINY_MODEL = ["--preset=deeplabv3_mobilenetv2",
              "--model_overrides=width_multiplier=0.125,aspp_depth=8"]


@pytest.fixture(scope="session")
def synthetic_data(tmp_path_factory):
    """Prepared TFRecords of a 16-train / 8-val synthetic set of 40x40 images (5 classes)."""
    from deeplab_tf.data.synthetic import ensure_synthetic
    return ensure_synthetic(str(tmp_path_factory.mktemp("synthetic")), num_train=16, num_val=8,
                            size=40)


def tiny_flags(data_dir, model_dir, *extra):
    return [*TINY_MODEL, "--dataset=synthetic", f"--data_dir={data_dir}",
            f"--model_dir={model_dir}", "--crop_size=33,33", "--train_batch_size=4",
            "--train_steps=4", "--checkpoint_every=2", "--log_every=1",
            "--image_summary_every=0", "--max_eval_batches=1", "--base_learning_rate=0.01",
            *extra]


def train_cli(args, env=None, **kwargs):
    """Runs python -m deeplab_tf.train ARGS; returns the CompletedProcess (text output)."""
    full_env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": str(REPO),
                **(env or {})}
    return subprocess.run([sys.executable, "-m", "deeplab_tf.train", *args], cwd=REPO,
                          env=full_env, capture_output=True, text=True, **kwargs)

"""`python -m deeplab_tf.export` end to end: .keras and training-checkpoint inputs, int8
calibrated on the real data pipeline, and one-line errors with a non-zero exit."""
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from deeplab_tf import export
from tests.export.conftest import REPO_ROOT, random_images, run_tflite, tiny_model, tiny_preset


def run_export(*args):
    return subprocess.run([sys.executable, "-m", "deeplab_tf.export", *args], cwd=REPO_ROOT,
                          capture_output=True, text=True)


def test_saved_model_from_a_keras_file(tmp_path):
    model = tiny_model()
    model.save(tmp_path / "tiny.keras")
    (tmp_path / "names.txt").write_text("background\ncat\ndog\n")
    result = run_export(f"--model={tmp_path / 'tiny.keras'}", "--format=saved_model",
                        f"--output={tmp_path / 'sm'}", f"--class_names_file={tmp_path / 'names.txt'}",
                        "--max_pixels=5000")
    assert result.returncode == 0, result.stderr[-2000:]
    assert (tmp_path / "sm" / "assets" / export.CLASS_NAMES_ASSET).read_text().split() == [
        "background", "cat", "dog"]
    serve = tf.saved_model.load(str(tmp_path / "sm")).signatures[export.SERVING_KEY]
    images = random_images((1, 33, 41, 3))
    expected = tf.nn.softmax(model(images.astype(np.float32))).numpy()
    assert np.abs(serve(images=tf.constant(images))["probabilities"].numpy() - expected).max() < 1e-4
    with pytest.raises(tf.errors.InvalidArgumentError, match="max_pixels=5000"):
        serve(images=tf.zeros((1, 71, 71, 3), tf.uint8))


def test_tflite_default_input_size_is_the_models_own(tmp_path, capsys):
    from deeplab_tf import model_metadata
    model = tiny_model()
    model_metadata.save_model(model, tmp_path / "own.keras", input_size=(41, 49))
    result = run_export(f"--model={tmp_path / 'own.keras'}", "--format=tflite",
                        f"--output={tmp_path / 'own.tflite'}")
    assert result.returncode == 0, result.stderr[-2000:]
    outputs, _, _ = run_tflite(tmp_path / "own.tflite", random_images((1, 41, 49, 3)))
    assert outputs["probabilities"].shape == (1, 41, 49, 3)
    model.save(tmp_path / "plain.keras")   # a plain model.save records nothing: 513x513
    assert export.recorded_input_size(str(tmp_path / "plain.keras")) == (513, 513)
    assert "records no input size; the TFLite input is 513x513" in capsys.readouterr().err
    # A training run records its training crop in model_signature.json.
    from deeplab_tf.config import ModelConfig
    from deeplab_tf.training import checkpoints
    config = ModelConfig("deeplabv3_mobilenetv2", num_classes=3)
    checkpoints.write_signature(str(tmp_path / "run"), checkpoints.model_signature(
        model, config, 3, input_size=(65, 33)))
    assert export.recorded_input_size(checkpoint=str(tmp_path / "run" / "ckpt-1")) == (65, 33)


def test_tflite_from_a_training_checkpoint(tmp_path):
    """--checkpoint=PREFIX of a training run: the model is rebuilt from model_signature.json."""
    from deeplab_tf.config import ModelConfig
    from deeplab_tf.training import checkpoints
    overrides = (("width_multiplier", 0.25), ("aspp_depth", 16))
    model = tiny_preset("deeplabv3_mobilenetv2")
    model_dir = tmp_path / "run"
    config = ModelConfig("deeplabv3_mobilenetv2", num_classes=3, overrides=overrides)
    checkpoints.write_signature(str(model_dir), checkpoints.model_signature(model, config, 3))
    tf.train.Checkpoint(model=model).write(str(model_dir / "ckpt-1"))
    result = run_export(f"--checkpoint={model_dir / 'ckpt-1'}", "--format=tflite",
                        "--input_size=49,49", f"--output={tmp_path / 'model.tflite'}")
    assert result.returncode == 0, result.stderr[-2000:]
    image = random_images((1, 49, 49, 3), seed=3)
    outputs, _, _ = run_tflite(tmp_path / "model.tflite", image)
    expected = tf.nn.softmax(model(image.astype(np.float32))).numpy()
    assert np.abs(outputs["probabilities"] - expected).max() < 1e-3  # the checkpoint's weights


def test_int8_calibrated_on_the_data_pipeline(tmp_path):
    from deeplab_tf.data import synthetic
    tiny_model().save(tmp_path / "tiny.keras")
    data_dir = synthetic.ensure_synthetic(str(tmp_path / "synthetic"), num_train=6, num_val=2,
                                          size=64)
    result = run_export(f"--model={tmp_path / 'tiny.keras'}", "--format=tflite",
                        "--quantize=int8", "--io_dtype=uint8", "--argmax", "--input_size=49,49",
                        "--dataset=synthetic", f"--data_dir={data_dir}",
                        "--num_calibration_images=8", f"--output={tmp_path / 'int8.tflite'}")
    assert result.returncode == 0, result.stderr[-2000:]
    outputs, inputs, details = run_tflite(tmp_path / "int8.tflite",
                                          random_images((1, 49, 49, 3), seed=3))
    assert inputs["images"]["dtype"] == np.uint8 and details["labels"]["dtype"] == np.int32
    assert outputs["labels"].shape == (1, 49, 49)
    assert set(np.unique(outputs["labels"])) <= {0, 1, 2}


@pytest.mark.parametrize("args, message", [
    (["--format=tflite", "--quantize=int8"], "--quantize=int8 needs representative data"),
    (["--format=tflite", "--input_size=49,x"], "--input_size=49,x must be HEIGHT,WIDTH"),
    (["--max_pixels=0"], "--max_pixels=0 must be positive"),
    (["--dataset=voc2012"], "--dataset=voc2012 has 21 classes but the model has 3"),
])
def test_bad_flags_give_one_line_errors(tmp_path, args, message):
    tiny_model().save(tmp_path / "tiny.keras")
    result = run_export(f"--model={tmp_path / 'tiny.keras'}", f"--output={tmp_path / 'out'}",
                        *args)
    assert result.returncode != 0
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("export: error:") and message in last, result.stderr[-2000:]
    assert not (tmp_path / "out").exists()


def test_missing_model_and_existing_output(tmp_path):
    result = run_export(f"--model={tmp_path / 'missing.keras'}", f"--output={tmp_path / 'o'}")
    assert result.returncode != 0
    assert "missing.keras is not a .keras file" in result.stderr.strip().splitlines()[-1]
    (tmp_path / "o").mkdir()
    tiny_model().save(tmp_path / "tiny.keras")
    result = run_export(f"--model={tmp_path / 'tiny.keras'}", f"--output={tmp_path / 'o'}")
    assert result.returncode != 0 and "already exists" in result.stderr.strip().splitlines()[-1]

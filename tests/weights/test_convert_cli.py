"""python -m deeplab_tf.convert: the absl entry point, its output file and its errors."""
import json
import subprocess
import sys

import keras
import numpy as np
import pytest

from tests.conftest import REPO
from tests.weights.conftest import FLOAT_FILE, load_rgb, logits, official


def _run(*args):
    return subprocess.run([sys.executable, "-m", "deeplab_tf.convert", *args], cwd=REPO,
                          capture_output=True, text=True, timeout=300)


def test_convert_tflite_to_keras_file(tmp_path, converted_float):
    output = tmp_path / "dm05.keras"
    result = _run("--source=official_tflite", f"--input={official(FLOAT_FILE)}",
                  f"--output={output}")
    assert result.returncode == 0, result.stderr[-2000:]
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["preset"] == "deeplabv3_mobilenetv2_dm05"
    assert (summary["output_stride"], summary["num_classes"], summary["input_size"]) == (
        8, 21, [257, 257])
    assert summary["seconds"] < 30
    # The official file's 257x257 input is recorded: export's default TFLite input size.
    from deeplab_tf import export
    assert export.recorded_input_size(str(output)) == (257, 257)
    loaded = keras.saving.load_model(output)   # the metadata entry does not disturb Keras
    image = load_rgb("segmentation_input_rotation0.jpg")
    np.testing.assert_array_equal(logits(loaded, image), logits(converted_float[0], image))


def test_bad_flags_fail_with_one_clear_line(tmp_path):
    result = _run("--source=official_tflite", f"--input={tmp_path / 'absent.tflite'}",
                  f"--output={tmp_path / 'x.keras'}")
    assert result.returncode != 0
    assert "convert: error: --input=" in result.stderr and "no such file" in result.stderr
    result = _run("--source=official_tflite", f"--input={official(FLOAT_FILE)}",
                  f"--output={tmp_path / 'x.h5'}")
    assert result.returncode != 0 and "must end in .keras" in result.stderr
    result = _run("--source=onnx", "--input=x", "--output=x.keras")
    assert result.returncode != 0 and "official_tflite" in result.stderr


def test_wrong_file_for_the_source_kind(tmp_path):
    """In process (the CLI turns the same ValueError into its one-line error, as above)."""
    from deeplab_tf.convert import convert
    from deeplab_tf.weights.official import OfficialWeightsError
    with pytest.raises(OfficialWeightsError, match="is not a readable TF checkpoint"):
        convert("official_checkpoint", official(FLOAT_FILE), tmp_path / "x.keras")
    assert not (tmp_path / "x.keras").exists()


def test_input_may_name_an_official_file_in_the_cache(tmp_path):
    """--input=<official name> resolves through the download cache (sha256-checked copy)."""
    import shutil

    from deeplab_tf.convert import _resolve_input
    shutil.copy(official(FLOAT_FILE), tmp_path / FLOAT_FILE)
    assert _resolve_input("deeplabv3_257_mv_gpu", str(tmp_path)) == str(tmp_path / FLOAT_FILE)

"""The package as a Keras / TensorFlow user meets it: `import deeplab_tf` is light and makes
keras.models.load_model work, official weights by name through build_model, quiet tools,
and the console scripts."""
import os
import pathlib
import re
import subprocess
import sys

import pytest

import deeplab_tf
from deeplab_tf import quiet, registration
from tests.conftest import REPO, shared_path

PACKAGE = pathlib.Path(deeplab_tf.__file__).parent
FLOAT_FILE = "deeplabv3_257_mv_gpu.tflite"


def _python(code, **env):
    full = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    full.update(PYTHONPATH=str(REPO), **env)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=REPO, env=full, timeout=300)


def test_every_module_with_registered_keras_objects_is_in_the_registration_list():
    found = sorted("deeplab_tf." + str(p.relative_to(PACKAGE).with_suffix("")).replace("/", ".")
                   for p in PACKAGE.rglob("*.py")
                   if "register_keras_serializable" in p.read_text() and p.name != "registration.py")
    assert found == sorted(registration.SERIALIZABLE_MODULES)


def test_import_is_light_and_keras_load_model_works_after_it(tmp_path):
    from tests.test_inference import tiny_model
    path = tmp_path / "tiny.keras"
    tiny_model(num_classes=3).save(path)   # custom layers: Preprocess, AtrousConv2D, ...
    out = _python(
        "import sys, deeplab_tf\n"
        "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules, 'heavy import'\n"
        "import keras\n"
        f"model = keras.models.load_model({str(path)!r})\n"
        "print('loaded', model.output_shape[-1])")
    assert out.returncode == 0, out.stderr[-2000:]
    assert "loaded 3" in out.stdout


def test_build_model_with_official_weights_by_path_and_by_name(tmp_path, monkeypatch):
    import numpy as np
    from deeplab_tf.weights.official import OfficialWeightsError
    source = shared_path("official", FLOAT_FILE)
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / FLOAT_FILE).symlink_to(source)
    monkeypatch.setenv("DEEPLAB_TF_CACHE", str(cache))
    monkeypatch.delenv("DEEPLAB_TF_MIRROR", raising=False)
    by_name = deeplab_tf.build_model(weights="deeplabv3_257_mv_gpu")
    assert by_name.output_shape[-1] == 21   # classes from the file
    by_path = deeplab_tf.build_model("deeplabv3_mobilenetv2_dm05", weights=str(source))
    image = np.random.default_rng(0).uniform(0, 255, (1, 65, 65, 3)).astype("float32")
    np.testing.assert_allclose(by_name(image).numpy(), by_path(image).numpy(), atol=1e-5)
    with pytest.raises(OfficialWeightsError, match="predicts 21 classes, not num_classes=5"):
        deeplab_tf.build_model(weights=str(source), num_classes=5)
    with pytest.raises(OfficialWeightsError, match="is a deeplabv3_mobilenetv2_dm05 model .*"
                                                   "does not fit preset 'deeplabv3_mobilenetv2'"):
        deeplab_tf.build_model("deeplabv3_mobilenetv2", weights=str(source))   # width 1.0
    with pytest.raises(FileNotFoundError, match="not an official file name"):
        deeplab_tf.build_model(weights="deeplabv9")


def test_quiet_sets_the_log_level_only_when_the_user_did_not(monkeypatch):
    monkeypatch.delenv("TF_CPP_MIN_LOG_LEVEL", raising=False)
    assert quiet.quiet(["train", "--verbosity=0"]) is False
    assert "TF_CPP_MIN_LOG_LEVEL" not in os.environ
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "0")
    assert quiet.quiet(["train"]) is False and os.environ["TF_CPP_MIN_LOG_LEVEL"] == "0"
    monkeypatch.delenv("TF_CPP_MIN_LOG_LEVEL")
    assert quiet.quiet(["train"]) is True and os.environ["TF_CPP_MIN_LOG_LEVEL"] == "2"


def test_a_tool_prints_its_own_lines_not_tensorflows():
    full = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    out = subprocess.run([sys.executable, "-m", "deeplab_tf.summary",
                          "--preset=deeplabv3_mobilenetv2", "--json"], capture_output=True,
                         text=True, cwd=REPO, env={**full, "PYTHONPATH": str(REPO)}, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    noise = [line for line in out.stderr.splitlines()
             if re.match(r"^[IWE]\d{4} ", line) or "cpu_feature_guard" in line
             or "oneDNN custom operations" in line or "absl::InitializeLog" in line]
    assert noise == [], noise


def test_console_scripts_run_the_same_mains():
    script = pathlib.Path(sys.executable).with_name("deeplab-prepare")
    if not script.exists():
        pytest.skip(f"{script} is not installed (pip install -e . installs the console scripts)")
    out = subprocess.run([str(script)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 1 and "error: --dataset is required" in out.stderr, out.stderr
    for name in ("train", "evaluate", "predict", "export", "convert"):
        assert pathlib.Path(sys.executable).with_name(f"deeplab-{name}").exists(), name


ENTRY_POINTS = {"train", "evaluate", "predict", "export", "convert", "summary", "benchmark",
                "crf_search", "cli"}


def _imported_modules(path):
    """deeplab_tf.* modules a file imports (import statements, anywhere in the file)."""
    import ast
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return {name for name in found if name.startswith("deeplab_tf.")}


def test_no_library_module_imports_an_entry_point():
    """Entry points sit on top: the library never imports a command-line module."""
    entry = {f"deeplab_tf.{name}" for name in ENTRY_POINTS}
    offenders = {}
    for path in PACKAGE.rglob("*.py"):
        relative = path.relative_to(PACKAGE.parent).with_suffix("")
        module = ".".join(relative.parts)
        if module in entry:
            continue
        bad = _imported_modules(path) & entry
        if bad:
            offenders[module] = sorted(bad)
    assert not offenders, offenders
    # The check sees an import of an entry point (this very pattern, written out).
    probe = PACKAGE.parent / "tests" / "training" / "_bad_inputs.py"
    assert "deeplab_tf.train" in _imported_modules(probe)

"""Every recipe runs as its header says: each experiments/*.flags (a new one is picked up by the
glob) has its header's train and evaluate commands run exactly as written, with only size
overrides appended (width 0.125, a few steps, small crops) and the synthetic set in place of
the real data, starting the way the flagfile says:

  --init=official:NAME   the official ImageNet checkpoint NAME, synthesized from the package's
                         own name map at that width (backbone scope + 1001-way classifier +
                         global_step + an optimizer slot + an EMA copy) and put in the download
                         cache under the official file name, so the download code resolves it;
  --init=imagenet        a tiny file in the layout of Keras' VGG-16 ImageNet file in the Keras
                         cache ($KERAS_HOME/models);
  --init=official:NAME   of an official .tflite file (a whole DeepLab model): the real file
                         from ../shared/data/official, linked into the download cache; the
                         model keeps its full width (only crops and steps shrink).
An evaluate line on a split the synthetic set lacks (CamVid's held-out test) evaluates val.

The prepare lines need the raw datasets and are not run here (tests/data covers prepare).
"""
import json
import os
import shlex
import subprocess
import sys
import tarfile

import pytest

from tests.conftest import REPO, shared_path

RECIPES = sorted((REPO / "experiments").glob("*.flags"))
WIDTH = 0.125
TRAIN_SIZE = ["--train_steps=2", "--train_batch_size=2", "--crop_size=33,33",
              "--checkpoint_every=2", "--eval_every=0", "--log_every=1", "--summary_every=1",
              "--image_summary_every=0", f"--model_overrides=width_multiplier={WIDTH}"]


def header_commands(path):
    """(module, args) of each `python -m deeplab_tf.X ...` line under "# Command:"; a
    `make demo` line stands for its documented train command."""
    commands, in_block = [], False
    for line in path.read_text().splitlines():
        if not line.startswith("#"):
            break
        text = line.lstrip("#").strip()
        if text.startswith("Command:"):
            in_block = True
            text = text[len("Command:"):].strip()
        if not in_block or not text:
            continue
        if "(= python -m" in text:   # "make demo   (= python -m deeplab_tf.train ...)"
            text = text.split("(=", 1)[1].rstrip(")").strip()
        tokens = shlex.split(text)
        if tokens[:2] == ["python", "-m"]:
            commands.append((tokens[2], tokens[3:]))
    return commands


def flag_value(path, name):
    for line in path.read_text().splitlines():
        if line.startswith(f"--{name}="):
            return line.split("=", 1)[1]
    return None


def _official_start(name, preset, cache):
    """The official ImageNet checkpoint `name`, synthesized at WIDTH, as its tarball."""
    from deeplab_tf.weights.download import OFFICIAL_FILES
    from tests.training.imagenet_checkpoints import write_imagenet_checkpoint
    entry = OFFICIAL_FILES[name]
    folder = cache / "src" / name
    prefix = write_imagenet_checkpoint(preset, str(folder / "model.ckpt"),
                                       width_multiplier=WIDTH)
    with tarfile.open(cache / entry.filename, "w:gz") as archive:
        for file in sorted(folder.iterdir()):
            archive.add(file, arcname=f"{name}/{file.name}")
    return prefix


def _is_tflite_name(name):
    from deeplab_tf.weights.download import OFFICIAL_FILES
    return name in OFFICIAL_FILES and OFFICIAL_FILES[name].filename.endswith(".tflite")


def _tflite_start(name, cache):
    """The real official .tflite file in the download cache (linked, not copied)."""
    from deeplab_tf.weights.download import OFFICIAL_FILES
    filename = OFFICIAL_FILES[name].filename
    (cache / filename).symlink_to(shared_path("official", filename))


def _keras_start(preset, keras_home):
    import deeplab_tf
    from tests.training.keras_files import VGG16_FILE, write_keras_vgg16_file
    (keras_home / "models").mkdir(parents=True)
    write_keras_vgg16_file(str(keras_home / "models" / VGG16_FILE),
                           deeplab_tf.build_model(preset, num_classes=5,
                                                  width_multiplier=WIDTH))


def test_every_recipe_names_its_start_and_its_commands():
    assert len(RECIPES) >= 7   # six paper rows + quickstart
    for path in RECIPES:
        modules = [module for module, _ in header_commands(path)]
        assert "deeplab_tf.train" in modules, path.name
        if path.name != "quickstart.flags":
            assert flag_value(path, "init"), f"{path.name} has no --init (its start)"
            assert flag_value(path, "mixed_precision") == "auto", path.name


@pytest.mark.slow
@pytest.mark.parametrize("recipe", RECIPES, ids=lambda p: p.stem)
def test_recipe_trains_and_evaluates_as_its_header_says(recipe, synthetic_data, tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    (work / "experiments").symlink_to(REPO / "experiments")   # the header's relative paths
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": str(REPO),
           "DEEPLAB_TF_CACHE": str(tmp_path / "cache"), "KERAS_HOME": str(tmp_path / "keras")}
    env.pop("DEEPLAB_TF_MIRROR", None)
    preset = flag_value(recipe, "preset")
    init = flag_value(recipe, "init") or ""
    train_size = TRAIN_SIZE
    own = flag_value(recipe, "model_overrides")
    if own:   # a later --model_overrides replaces the list: keep the recipe's own overrides
        train_size = [f.replace("--model_overrides=", f"--model_overrides={own},")
                      for f in TRAIN_SIZE]
    if init.startswith("official:"):
        (tmp_path / "cache").mkdir()
        name = init.split(":", 1)[1]
        if _is_tflite_name(name):
            _tflite_start(name, tmp_path / "cache")
            train_size = [f for f in train_size if not f.startswith("--model_overrides")]
        else:
            _official_start(name, preset, tmp_path / "cache")
    elif init == "imagenet":
        _keras_start(preset, tmp_path / "keras")
    data = [] if flag_value(recipe, "prepare_synthetic") else [
        "--dataset=synthetic", f"--data_dir={synthetic_data}", "--train_split=train"]
    ran = []
    crf = any(m == "deeplab_tf.evaluate" and "--crf" in a for m, a in header_commands(recipe))
    for module, args in header_commands(recipe):
        if module == "deeplab_tf.data.prepare":
            continue   # raw data; the synthetic set stands in for its output
        extra = data + (train_size if module == "deeplab_tf.train" else [])
        if module == "deeplab_tf.evaluate" and "--eval_split=test" in args:
            extra = extra + ["--eval_split=val"]   # the synthetic set has train and val
        if module == "deeplab_tf.train" and flag_value(recipe, "export_formats"):
            extra = extra + ["--export_formats=saved_model"]   # TFLite: tests/export
        if module == "deeplab_tf.train" and crf:
            extra = extra + ["--crf"]   # the final evaluation refines as the evaluate line does
        proc = subprocess.run([sys.executable, "-m", module, *args, *extra], cwd=work,
                              env=env, capture_output=True, text=True, timeout=900)
        assert proc.returncode == 0, (module, args, proc.stdout[-2000:], proc.stderr[-3000:])
        assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
        ran.append((module, proc))
    modules = [m for m, _ in ran]
    assert "deeplab_tf.train" in modules
    train_out = dict(ran)["deeplab_tf.train"].stdout
    if init:
        assert "initialised" in train_out, train_out[-2000:]
    run_dir = work / flag_value(recipe, "model_dir")
    metrics = json.loads((run_dir / "eval" / "metrics.json").read_text())
    assert 0.0 <= metrics["mean_iou"] <= 1.0
    flags_txt = (run_dir / "flags.txt").read_text().splitlines()
    assert not any(line == "--mixed_precision=auto" for line in flags_txt)
    if flag_value(recipe, "mixed_precision") == "auto":
        # Resolved for this machine, logged with its reason, and flags.txt reruns the policy.
        from deeplab_tf.training import precision
        expected, reason = precision.resolve("auto")
        assert f"--mixed_precision=auto -> {expected} ({reason})" in train_out, train_out
        assert f"--mixed_precision={expected}" in flags_txt
    if crf:   # --crf at training: the final evaluation is the DenseCRF-refined one
        assert "without_crf" in metrics and metrics["settings"]["crf"] is True, metrics.keys()
        assert "with DenseCRF (without:" in train_out, train_out[-2000:]
    if "deeplab_tf.evaluate" in modules:
        evaluated = list(run_dir.glob("evaluate_*/metrics.json"))
        assert evaluated, list(run_dir.iterdir())
        assert set(json.loads(evaluated[0].read_text())["per_class_iou"]) == {
            "background", "disc", "box", "triangle", "stick"}

"""--dataset=PATH/dataset.json: a user's own dataset, read into the built-in DatasetInfo.

Round trips (index and rgb labels) go through prepare and back out of the records; every
descriptor problem is one error naming the file and the key or value, with nothing written.
"""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from deeplab_tf.data import datasets, prepare
from deeplab_tf.data.descriptor import DescriptorError, load_descriptor
from tests.conftest import REPO
from tests.data.conftest import read_records

PALETTE = [[128, 128, 128], [128, 64, 128], [64, 0, 128]]
IGNORE_COLOR = [0, 0, 0]


def _labels(seed, shape=(20, 28)):
    rng = np.random.default_rng(seed)
    label = rng.integers(0, 3, size=shape).astype(np.uint8)
    label[:3, :5] = 255   # some ignored pixels
    return label


def write_dataset(root, label_format="rgb", ignore_label=255, absolute_prefix="", **extra):
    """A tiny dataset in `root`: images/, labels/, train.txt and val.txt, and dataset.json."""
    os.makedirs(root / "images", exist_ok=True)
    os.makedirs(root / "labels", exist_ok=True)
    expected = {}
    for split, count in (("train", 3), ("val", 2)):
        lines = []
        for i in range(count):
            name = f"{split}_{i}"
            rng = np.random.default_rng(i + (10 if split == "val" else 0))
            Image.fromarray(rng.integers(0, 255, (20, 28, 3), dtype=np.uint8)).save(
                root / "images" / f"{name}.jpg", quality=95)
            label = _labels(i + (10 if split == "val" else 0))
            if label_format == "rgb":
                colours = np.asarray(PALETTE + [IGNORE_COLOR] * 253, np.uint8)
                Image.fromarray(colours[np.where(label == 255, 3, label)]).save(
                    root / "labels" / f"{name}.png")
            else:
                raw = np.where(label == 255, ignore_label, label).astype(np.uint8)
                Image.fromarray(raw, mode="L").save(root / "labels" / f"{name}.png")
            expected[name] = label
            lines.append(f"{absolute_prefix}images/{name}.jpg {absolute_prefix}labels/{name}.png")
        (root / f"{split}.txt").write_text("\n".join(lines) + "\n")
    spec = {"name": "roads", "class_names": ["sky", "road", "car"], "label_format": label_format,
            "splits": {"train": "train.txt", "val": "val.txt"}}
    if label_format == "rgb":
        spec.update(palette=PALETTE, ignore_color=IGNORE_COLOR)
    else:
        spec["ignore_label"] = ignore_label
    spec.update(extra)
    (root / "dataset.json").write_text(json.dumps(spec, indent=1))
    return root / "dataset.json", expected


@pytest.mark.parametrize("label_format,ignore_label,prefix", [
    ("rgb", 255, ""), ("index", 255, ""), ("index", 7, "/data/roads/")])
def test_round_trip(tmp_path, label_format, ignore_label, prefix):
    descriptor, expected = write_dataset(tmp_path / "raw", label_format, ignore_label, prefix)
    info = datasets.get_dataset(str(descriptor))
    assert info.class_names == ("sky", "road", "car") and info.default_splits == ("train", "val")
    summary = prepare.prepare(str(descriptor), None, str(tmp_path / "out"), progress=False)
    assert summary["dataset"] == "roads" and summary["class_names"] == ["sky", "road", "car"]
    for split in ("train", "val"):
        found = read_records(str(tmp_path / "out"), split)
        assert sorted(found) == sorted(k for k in expected if k.startswith(split))
        for name, (_, label, _) in found.items():
            np.testing.assert_array_equal(label, expected[name])   # ignore is 255 after prepare
    counts = np.sum([np.bincount(expected[k].ravel(), minlength=256)[:3]
                     for k in expected if k.startswith("train")], axis=0)
    assert summary["splits"]["train"]["label_statistics"]["class_pixels"] == counts.tolist()


def _error(tmp_path, **changes):
    descriptor, _ = write_dataset(tmp_path / "raw")
    spec = json.loads(descriptor.read_text())
    for key, value in changes.items():
        if value is None:
            spec.pop(key)
        else:
            spec[key] = value
    descriptor.write_text(json.dumps(spec))
    with pytest.raises(DescriptorError) as error:
        load_descriptor(str(descriptor))
    message = str(error.value)
    assert str(descriptor) in message and "\n" not in message
    return message


def test_descriptor_errors(tmp_path):
    assert "missing key(s) ['class_names']" in _error(tmp_path, class_names=None)
    assert "unknown key(s) ['colours']" in _error(tmp_path, colours=[1])
    assert "palette[1] has [128, 64]" in _error(tmp_path, palette=[[1, 2, 3], [128, 64],
                                                                   [4, 5, 6]])
    assert "palette has 2 entries" in _error(tmp_path, palette=PALETTE[:2])
    assert "needs palette" in _error(tmp_path, palette=None, ignore_color=None)
    assert "label_format has \"jpeg\"" in _error(tmp_path, label_format="jpeg")
    assert "ignore_label has 1" in _error(tmp_path, label_format="index", palette=None,
                                          ignore_color=None, ignore_label=1)
    assert "same colour" in _error(tmp_path, palette=[PALETTE[0]] * 3)
    assert "ignore_color [128, 128, 128] is also the colour of class sky" in _error(
        tmp_path, ignore_color=PALETTE[0])
    assert "splits has" in _error(tmp_path, splits={})
    for outside in ("../elsewhere/train.txt", "/etc/train.txt", "C:/train.txt"):
        assert f"splits.train is {outside!r}; list files must be relative paths inside" in \
            _error(tmp_path, splits={"train": outside})
    assert "class_names has" in _error(tmp_path, class_names="sky")
    (tmp_path / "raw" / "dataset.json").write_text("{not json")
    with pytest.raises(DescriptorError, match="not a JSON file"):
        load_descriptor(str(tmp_path / "raw" / "dataset.json"))


def _prepare_error(descriptor, out):
    with pytest.raises(prepare.PrepareError) as error:
        prepare.prepare(str(descriptor), None, str(out), progress=False)
    assert not out.exists(), "nothing may be written when the input is refused"
    return str(error.value)


def test_label_problems_name_the_file_and_the_value(tmp_path):
    descriptor, _ = write_dataset(tmp_path / "rgb")
    labels = tmp_path / "rgb" / "labels"
    bad = np.asarray(Image.open(labels / "train_1.png")).copy()
    bad[5, 5] = (10, 20, 30)
    Image.fromarray(bad).save(labels / "train_1.png")
    message = _prepare_error(descriptor, tmp_path / "out1")
    assert f"{labels / 'train_1.png'}: label colour(s) [10, 20, 30]" in message

    descriptor, _ = write_dataset(tmp_path / "index", "index")
    labels = tmp_path / "index" / "labels"
    bad = np.asarray(Image.open(labels / "val_0.png")).copy()
    bad[0, 0] = 9
    Image.fromarray(bad, mode="L").save(labels / "val_0.png")
    message = _prepare_error(descriptor, tmp_path / "out2")
    assert f"{labels / 'val_0.png'}: label values [9] are outside" in message

    bad[0, 0] = 1
    Image.fromarray(bad[:10], mode="L").save(labels / "val_0.png")
    assert "label is 28x10 but its image" in _prepare_error(descriptor, tmp_path / "out3")

    os.remove(tmp_path / "index" / "images" / "train_2.jpg")
    message = _prepare_error(descriptor, tmp_path / "out4")
    assert "train_2.jpg" in message and "missing" in message


def test_list_problems(tmp_path):
    descriptor, _ = write_dataset(tmp_path / "raw")
    lists = tmp_path / "raw" / "train.txt"
    lists.write_text("images/train_0.jpg\n")
    assert f"{lists}:1: expected \"IMAGE LABEL\"" in _prepare_error(descriptor, tmp_path / "o1")
    lists.write_text("../raw/images/train_0.jpg labels/train_0.png\n")
    assert "leaves the dataset folder" in _prepare_error(descriptor, tmp_path / "o2")
    lists.write_text("images/train_0.jpg labels/train_0.png\n"
                     "images/train_0.jpg labels/train_0.png\n")
    assert "already listed on line 1" in _prepare_error(descriptor, tmp_path / "o3")
    os.remove(lists)
    assert f"split list {lists}" in _prepare_error(descriptor, tmp_path / "o4")


def test_cli_one_line_errors(tmp_path):
    descriptor, _ = write_dataset(tmp_path / "raw")
    spec = json.loads(descriptor.read_text())
    del spec["class_names"]
    descriptor.write_text(json.dumps(spec))
    command = [sys.executable, "-m", "deeplab_tf.data.prepare", f"--dataset={descriptor}",
               f"--output_dir={tmp_path / 'out'}"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120,
                            env={**os.environ, "PYTHONPATH": str(REPO)})
    lines = result.stderr.strip().splitlines()
    assert result.returncode != 0 and len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ") and "missing key(s) ['class_names']" in lines[0]
    assert not (tmp_path / "out").exists()
    result = subprocess.run(command + [f"--data_dir={tmp_path}"], capture_output=True,
                            text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert result.returncode != 0 and "missing key(s)" in result.stderr


@pytest.mark.slow
def test_rgb_dataset_json_through_prepare_train_evaluate(tmp_path):
    """The acceptance path: a user's rgb-coded dataset, no code edits, metrics name its classes."""
    descriptor, _ = write_dataset(tmp_path / "raw")
    env = {**os.environ, "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "2"}

    def run(module, *args):
        proc = subprocess.run([sys.executable, "-m", module, *args], capture_output=True,
                              text=True, timeout=600, env=env, cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr[-3000:]
        return proc.stdout

    run("deeplab_tf.data.prepare", f"--dataset={descriptor}", f"--output_dir={tmp_path / 'rec'}",
        "--noprogress")
    run("deeplab_tf.train", f"--dataset={descriptor}", f"--data_dir={tmp_path / 'rec'}",
        f"--model_dir={tmp_path / 'run'}", "--preset=deeplabv3_mobilenetv2",
        "--model_overrides=width_multiplier=0.125,aspp_depth=8", "--crop_size=17,17",
        "--train_batch_size=2", "--train_steps=2", "--class_weights=median_frequency",
        "--image_summary_every=0", "--export_formats=")
    run("deeplab_tf.evaluate", f"--dataset={descriptor}", f"--data_dir={tmp_path / 'rec'}",
        f"--checkpoint={tmp_path / 'run'}", f"--output_dir={tmp_path / 'eval'}")
    metrics = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert list(metrics["per_class_iou"]) == ["sky", "road", "car"]
    assert metrics["settings"]["dataset"] == str(descriptor)

"""Every bad input of prepare: a clear error naming each file, nothing partial written."""
import io
import os
import subprocess
import sys
import tarfile

import numpy as np
import pytest
from PIL import Image

from deeplab_tf.data import archive, prepare, records
from tests.conftest import REPO

SEG = os.path.join("ImageSets", "Segmentation")


def _prepare(raw, out, **kwargs):
    return prepare.prepare("synthetic", str(raw.parent), str(out), progress=False, **kwargs)


def _label_path(raw, image_id):
    return raw / "SegmentationClass" / f"{image_id}.png"


def _write_label(path, array):
    Image.fromarray(np.asarray(array, np.uint8), mode="L").save(path)


def test_every_bad_example_is_named_and_nothing_is_written(raw_synthetic, tmp_path):
    raw = raw_synthetic
    os.remove(_label_path(raw, "synth_train_00000"))                       # no label
    _write_label(_label_path(raw, "synth_train_00001"), np.zeros((30, 41)))  # other size
    bad_values = np.zeros((33, 41))
    bad_values[3, 4] = 7                                                  # not a class
    _write_label(_label_path(raw, "synth_train_00002"), bad_values)
    jpeg = raw / "JPEGImages" / "synth_train_00003.jpg"
    jpeg.write_bytes(jpeg.read_bytes()[:200])                             # truncated JPEG
    (_label_path(raw, "synth_val_00000")).write_bytes(b"\x89PNG\r\n\x1a\ngarbage")  # bad PNG
    out = tmp_path / "out"
    with pytest.raises(prepare.PrepareError) as error:
        _prepare(raw, out)
    message = str(error.value)
    assert "5 bad example(s)" in message and "nothing written" in message
    assert "synth_train_00000.jpg: image has no label" in message
    assert "synth_train_00001.png: label is 41x30 but its image" in message
    assert "synth_train_00002.png: label values [7] are outside" in message
    assert "synth_train_00003.jpg: corrupt or unreadable image" in message
    assert "synth_val_00000.png: corrupt or unreadable label PNG" in message
    assert not out.exists() or not os.listdir(out)
    # --skip_bad_examples: the good ones are written, the bad ones counted and named.
    summary = _prepare(raw, out, skip_bad_examples=True)
    assert summary["splits"]["train"]["num_examples"] == 1
    assert summary["splits"]["val"]["num_examples"] == 2
    assert len(summary["splits"]["train"]["skipped"]) == 4
    skipped = records.read_info(str(out))["splits"]["val"]["skipped"]
    assert len(skipped) == 1 and "synth_val_00000.png: corrupt" in skipped[0]
    from tests.data.conftest import read_records
    assert sorted(read_records(str(out), "train")) == ["synth_train_00004"]


def test_a_failed_run_keeps_the_previous_output(raw_synthetic, tmp_path):
    raw, out = raw_synthetic, tmp_path / "out"
    _prepare(raw, out)
    before = {n: (out / n).read_bytes() for n in os.listdir(out)}
    _write_label(_label_path(raw, "synth_val_00001"), np.full((33, 41), 9))
    with pytest.raises(prepare.PrepareError, match="synth_val_00001.png: label values"):
        _prepare(raw, out)
    assert {n: (out / n).read_bytes() for n in os.listdir(out)} == before   # no temp files


@pytest.mark.parametrize("content", ["", "\n\n"])
def test_empty_split_file(raw_synthetic, tmp_path, content):
    (raw_synthetic / SEG / "val.txt").write_text(content)
    with pytest.raises(prepare.PrepareError, match=r"split file .*val.txt is empty"):
        _prepare(raw_synthetic, tmp_path / "out")


def test_missing_split_file(raw_synthetic, tmp_path):
    os.remove(raw_synthetic / SEG / "train.txt")
    with pytest.raises(Exception, match=r"split file .*train.txt is missing"):
        _prepare(raw_synthetic, tmp_path / "out")


def test_missing_image(raw_synthetic, tmp_path):
    os.remove(raw_synthetic / "JPEGImages" / "synth_val_00001.jpg")
    with pytest.raises(prepare.PrepareError, match=r"synth_val_00001.jpg: image of "
                                                   r"'synth_val_00001' is missing"):
        _prepare(raw_synthetic, tmp_path / "out")


def test_rgb_label_png_is_rejected(raw_synthetic, tmp_path):
    Image.new("RGB", (41, 33)).save(_label_path(raw_synthetic, "synth_val_00000"))
    with pytest.raises(prepare.PrepareError, match="label PNG mode is RGB"):
        _prepare(raw_synthetic, tmp_path / "out")


def _tar_with_member(path, name, data=b"x", symlink_to=None):
    with tarfile.open(path, "w") as tar:
        info = tarfile.TarInfo(name)
        if symlink_to:
            info.type, info.linkname = tarfile.SYMTYPE, symlink_to
            tar.addfile(info)
        else:
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


@pytest.mark.parametrize("name,link", [("../evil.txt", None), ("/tmp/evil.txt", None),
                                       ("VOCdevkit/../../evil.txt", None),
                                       ("VOCdevkit/link", "../../outside")])
def test_archive_member_that_would_escape(tmp_path, name, link):
    archives = tmp_path / "archives"
    archives.mkdir()
    _tar_with_member(archives / "VOCtrainval_11-May-2012.tar", name, symlink_to=link)
    out = tmp_path / "out"
    with pytest.raises(archive.UnsafeArchiveError, match="would be written outside"):
        prepare.prepare("voc2012", str(archives), str(out), progress=False)
    assert not (tmp_path / "evil.txt").exists() and not (tmp_path / "outside").exists()
    assert not list((out / ".raw").iterdir())   # nothing extracted at all


def test_cli_prints_one_line_error_and_exits_nonzero(raw_synthetic, tmp_path):
    os.remove(_label_path(raw_synthetic, "synth_train_00002"))
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    command = [sys.executable, "-m", "deeplab_tf.data.prepare", "--dataset=synthetic",
               f"--data_dir={raw_synthetic.parent}", f"--output_dir={tmp_path / 'out'}",
               "--noprogress"]
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode != 0
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: 1 bad example(s)") and "synth_train_00002" in last
    ok = subprocess.run(command + ["--skip_bad_examples"], capture_output=True, text=True,
                        env=env, timeout=120)
    assert ok.returncode == 0, ok.stderr
    assert "train: 4 examples in 1 shard(s), 1 skipped" in ok.stdout
    missing = subprocess.run(command[:4] + [command[5]], capture_output=True, text=True,
                             env=env, timeout=60)
    last = missing.stderr.strip().splitlines()[-1]
    assert missing.returncode != 0 and "--data_dir is required for --dataset=synthetic" in last


def test_zip_member_that_would_escape(tmp_path):
    import zipfile
    archives = tmp_path / "archives"
    archives.mkdir()
    with zipfile.ZipFile(archives / "gtFine_trainvaltest.zip", "w") as z:
        z.writestr("gtFine/val/ok.txt", "fine")
        z.writestr("../../escaped.txt", "bad")
    with pytest.raises(archive.UnsafeArchiveError, match=r"'\.\./\.\./escaped\.txt' would be"):
        prepare.prepare("cityscapes", str(archives), str(tmp_path / "out"), progress=False)
    assert not (tmp_path / "escaped.txt").exists() and not (tmp_path.parent / "escaped.txt"
                                                             ).exists()

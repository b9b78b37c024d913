"""prepare against hostile and careless inputs: ids that are paths, duplicate ids, archive
bombs, output folders that cannot be used, staging files of a killed run, and repeat runs
that must give the same bytes."""
import filecmp
import io
import os
import stat
import tarfile
import zipfile

import pytest

from deeplab_tf import paths
from deeplab_tf.data import archive, prepare

SEG = os.path.join("ImageSets", "Segmentation")


def _prepare(raw, out, **kwargs):
    return prepare.prepare("synthetic", str(raw.parent), str(out), progress=False, **kwargs)


@pytest.mark.parametrize("hostile", ["../../../../tmp/evil", "/etc/passwd", "a/b", "..",
                                     "C:evil", "sub\\evil", "nul\x00byte"])
def test_an_id_that_is_a_path_is_refused_by_name_and_nothing_is_read_or_written(
        raw_synthetic, tmp_path, hostile):
    split_file = raw_synthetic / SEG / "train.txt"
    split_file.write_text(split_file.read_text() + hostile + "\n")
    out = tmp_path / "out"
    with pytest.raises(paths.UnsafePathError) as error:
        _prepare(raw_synthetic, out)
    assert f"train.txt:6: example id {hostile!r} is refused" in str(error.value)
    assert not out.exists() or os.listdir(out) == []


def test_a_duplicate_id_is_refused_by_name(raw_synthetic, tmp_path):
    split_file = raw_synthetic / SEG / "val.txt"
    split_file.write_text(split_file.read_text() + "synth_val_00001\n")
    with pytest.raises(prepare.PrepareError, match=r"val.txt:4: image id 'synth_val_00001' is "
                                                   r"already listed on line 2"):
        _prepare(raw_synthetic, tmp_path / "out")


def test_repeat_runs_write_identical_bytes_and_remove_a_killed_runs_staging_files(
        raw_synthetic, tmp_path):
    first, second = tmp_path / "first", tmp_path / "second"
    _prepare(raw_synthetic, first)
    second.mkdir()
    orphans = [".train-00000-of-00001.tfrecord.tmp4242", "deeplab_tf_dataset.json.tmp"]
    for name in orphans:                        # what a kill -9 during writing leaves
        (second / name).write_bytes(b"half written")
    _prepare(raw_synthetic, second)
    assert sorted(os.listdir(first)) == sorted(os.listdir(second))
    match, mismatch, errors = filecmp.cmpfiles(first, second, os.listdir(first), shallow=False)
    assert not mismatch and not errors and len(match) == 3


def test_an_output_folder_that_is_a_file_or_read_only_is_refused_before_any_work(
        raw_synthetic, tmp_path):
    a_file = tmp_path / "a_file"
    a_file.write_text("keep me")
    with pytest.raises(prepare.PrepareError, match="--output_dir=.*a_file is an existing file"):
        _prepare(raw_synthetic, a_file)
    with pytest.raises(prepare.PrepareError, match="a_file is not a writable folder"):
        _prepare(raw_synthetic, a_file / "out")
    assert a_file.read_text() == "keep me"
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        if os.access(locked, os.W_OK):
            pytest.skip("running as a user who may write into read-only folders (root)")
        with pytest.raises(prepare.PrepareError, match="locked.* is not a writable folder"):
            _prepare(raw_synthetic, locked / "out")
    finally:
        locked.chmod(stat.S_IRWXU)


def _zeros(size):
    return io.BytesIO(bytes(size))


@pytest.mark.parametrize("kind", ["tgz", "zip"])
def test_a_decompression_bomb_is_refused_before_anything_is_written(tmp_path, kind):
    """64 MiB of zeros compress to ~64 KB: a ratio of ~1000 (a 1 GiB member behaves alike)."""
    size = 64 << 20
    bomb = tmp_path / f"benchmark.{kind}"
    if kind == "tgz":
        with tarfile.open(bomb, "w:gz", compresslevel=1) as tar:
            member = tarfile.TarInfo("benchmark_RELEASE/dataset/cls/zeros.mat")
            member.size = size
            tar.addfile(member, _zeros(size))
    else:
        with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as z:
            z.writestr("benchmark_RELEASE/dataset/cls/zeros.mat", bytes(size))
    destination = tmp_path / "out" / ".raw" / "benchmark"
    with pytest.raises(archive.UnsafeArchiveError, match=r"expands to 64.0 MiB, a compression "
                                                         r"ratio of \d+ above the limit of 100"):
        archive.extract(str(bomb), str(destination))
    assert not (tmp_path / "out").exists()
    limits = archive.Limits(max_member_bytes=1 << 20, max_ratio=10 ** 6)
    with pytest.raises(archive.UnsafeArchiveError, match="member 'benchmark_RELEASE/dataset/cls/"
                                                         "zeros.mat' expands to 64.0 MiB, above "
                                                         "the limit of 1.0 MiB per member"):
        archive.extract(str(bomb), str(destination), limits)
    raised = archive.Limits(max_ratio=10 ** 6)   # what the prepare flags raise
    archive.extract(str(bomb), str(destination), raised)
    assert os.path.getsize(destination / "benchmark_RELEASE/dataset/cls/zeros.mat") == size


def test_a_truncated_archive_is_named_and_leaves_no_partial_folder(tmp_path):
    good = tmp_path / "data.tgz"
    with tarfile.open(good, "w:gz") as tar:
        for i in range(3):
            member = tarfile.TarInfo(f"data/file{i}.bin")
            member.size = 200_000
            tar.addfile(member, io.BytesIO(os.urandom(200_000)))
    cut = tmp_path / "cut.tgz"
    cut.write_bytes(good.read_bytes()[:300_000])
    destination = tmp_path / "out"
    with pytest.raises(archive.ArchiveError, match="cut.tgz"):
        archive.extract(str(cut), str(destination))
    assert not destination.exists() and not (tmp_path / "out.partial").exists()


def test_inside_refuses_names_and_links_that_leave_the_folder(tmp_path):
    folder = tmp_path / "out"
    folder.mkdir()
    assert paths.inside(str(folder), "x.png") == str(folder / "x.png")
    for name in ("../evil.png", "/tmp/evil.png", "a/../../evil.png"):
        with pytest.raises(paths.UnsafePathError, match="would be written outside"):
            paths.inside(str(folder), name)
    (folder / "link.png").symlink_to(tmp_path / "elsewhere.png")
    with pytest.raises(paths.UnsafePathError, match="link.png would be written outside"):
        paths.inside(str(folder), "link.png")


def test_a_record_whose_id_is_a_path_is_refused_before_a_panel_is_written(raw_synthetic,
                                                                         tmp_path):
    import tensorflow as tf
    from deeplab_tf import evaluation
    from deeplab_tf.config import DataConfig
    from deeplab_tf.data import records
    out = tmp_path / "records"
    _prepare(raw_synthetic, out)
    shard = records.split_files(str(out), "val")[0]
    examples = [tf.train.Example.FromString(r.numpy()) for r in tf.data.TFRecordDataset(shard)]
    examples[0].features.feature[records.IMAGE_ID].bytes_list.value[0] = b"../../evil"
    with tf.io.TFRecordWriter(shard) as writer:
        for example in examples:
            writer.write(example.SerializeToString())
    config = DataConfig(dataset="synthetic", data_dir=str(out), batch_size=2)
    with pytest.raises(paths.UnsafePathError, match=r"record of split val .* example id "
                                                    r"'../../evil' is refused"):
        list(evaluation.record_examples(config, "val"))

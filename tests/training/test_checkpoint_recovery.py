"""A killed or damaged run resumes from its newest intact checkpoint: a truncated latest
checkpoint is named and skipped, none intact is one clear error, and the staging files of an
interrupted save are removed (deeplab_tf.training.checkpoints)."""
import os

import numpy as np
import pytest
import tensorflow as tf

from deeplab_tf.training import checkpoints


def _saved_run(folder):
    """A checkpoint folder with ckpt-1 (variable = 1) and ckpt-2 (variable = 2)."""
    variable = tf.Variable(np.zeros([64, 64], np.float32))
    checkpoint = tf.train.Checkpoint(v=variable)
    manager = tf.train.CheckpointManager(checkpoint, str(folder), max_to_keep=3)
    for step in (1, 2):
        variable.assign(np.full([64, 64], step, np.float32))
        manager.save(checkpoint_number=step)
    variable.assign(np.zeros([64, 64], np.float32))
    return variable, checkpoint, manager


def _truncate(prefix, suffix):
    path = next(p for p in tf.io.gfile.glob(prefix + suffix))
    size = os.path.getsize(path)
    with open(path, "r+b") as f:
        f.truncate(size // 2)
    return path


@pytest.mark.parametrize("suffix", [".data-*", ".index"])
def test_truncated_latest_checkpoint_is_named_and_the_previous_one_used(tmp_path, suffix):
    variable, checkpoint, manager = _saved_run(tmp_path)
    _truncate(manager.latest_checkpoint, suffix)
    lines = []
    restored = checkpoints.restore_latest_intact(checkpoint, manager, log=lines.append)
    assert restored.endswith("ckpt-1")
    assert np.all(variable.numpy() == 1.0)
    assert "ckpt-2 is unreadable" in lines[0] and "resumed from" in lines[-1], lines


def test_no_intact_checkpoint_is_one_error_naming_each(tmp_path):
    _, checkpoint, manager = _saved_run(tmp_path)
    for prefix in manager.checkpoints:
        _truncate(prefix, ".data-*")
    with pytest.raises(checkpoints.CorruptCheckpoint, match="no checkpoint in .* can be read: "
                                                            ".*ckpt-2 .*ckpt-1"):
        checkpoints.restore_latest_intact(checkpoint, manager, log=lambda _: None)


def test_staging_files_of_a_killed_save_are_removed(tmp_path):
    _saved_run(tmp_path)
    (tmp_path / "ckpt-3_temp").mkdir()
    (tmp_path / "ckpt-3_temp" / "part-00000-of-00001.data-00000-of-00001").write_bytes(b"x")
    (tmp_path / "checkpoint.tmp1234abcd").write_text("half")
    removed = checkpoints.remove_stale_files(str(tmp_path))
    assert sorted(removed) == ["checkpoint.tmp1234abcd", "ckpt-3_temp"]
    assert sorted(os.listdir(tmp_path)) == sorted(
        ["checkpoint", "ckpt-1.index", "ckpt-1.data-00000-of-00001", "ckpt-2.index",
         "ckpt-2.data-00000-of-00001"])

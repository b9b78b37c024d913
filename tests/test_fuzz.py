"""Bounded, seeded fuzzing of every reader with real files: random truncations and byte flips
of JPEG, PNG, TFRecord, .tflite and checkpoint files. Each damaged file is either read (a byte
flip can leave a file valid) or refused with the reader's own error type naming the file:
never another exception (which the command-line tools would show as a traceback) and never a
process abort (which would take the test worker down). The serving signatures' share is in
tests/export/test_saved_model.py (test_damaged_image_bytes_...)."""
import os

import numpy as np

from tests.conftest import shared_path

SEED = 20261201
VARIANTS = 12


def damaged(data, rng):
    """Yields (kind, bytes): truncations at random points and random byte flips."""
    for i in range(VARIANTS):
        if i % 2 == 0:
            yield "truncated", data[:int(rng.integers(0, len(data)))]
        else:
            flipped = bytearray(data)
            for position in rng.integers(0, len(data), int(rng.integers(1, 16))):
                flipped[position] ^= int(rng.integers(1, 256))
            yield "flipped", bytes(flipped)


def test_damaged_images_and_labels_through_prepares_checks(tmp_path):
    from deeplab_tf.data import sources, synthetic
    from deeplab_tf.data.datasets import get_dataset
    from deeplab_tf.data.raw_examples import BadExample, check_example
    info = get_dataset("synthetic")
    synthetic.write_synthetic(str(tmp_path / "raw" / "synthetic"), num_train=1, num_val=1,
                              size=(33, 41), seed=3)
    example = sources.find_examples(info, [str(tmp_path / "raw")], "train")[0]
    rng = np.random.default_rng(SEED)
    outcomes = []
    for which in ("image_path", "label_path"):
        original = open(getattr(example, which), "rb").read()
        for kind, data in damaged(original, rng):
            path = tmp_path / f"{kind}{len(outcomes)}{os.path.splitext(getattr(example, which))[1]}"
            path.write_bytes(data)
            try:
                check_example(example.__class__(**{**example.__dict__, which: str(path)}), info)
                outcomes.append("read")
            except BadExample as error:
                assert str(path) in str(error), error
                outcomes.append("refused")
    assert "refused" in outcomes   # the fuzzing did reach the error paths


def test_damaged_tfrecord_shards_are_named(tmp_path):
    import tensorflow as tf
    from deeplab_tf.config import DataConfig
    from deeplab_tf.data import records, synthetic
    from deeplab_tf.data.pipeline import build_dataset
    folder = synthetic.ensure_synthetic(str(tmp_path / "records"), num_train=4, num_val=2,
                                        size=(33, 41), seed=2)
    shard = records.split_files(folder, "train")[0]
    original = open(shard, "rb").read()
    config = DataConfig(dataset="synthetic", data_dir=folder, batch_size=2, crop_size=(33, 33))
    rng = np.random.default_rng(SEED)
    refused = 0
    dataset = build_dataset(config, "train", training=False)   # each iteration reopens the file
    for kind, data in damaged(original, rng):
        with open(shard, "wb") as f:
            f.write(data)
        try:
            for _ in dataset:
                pass
        except (tf.errors.DataLossError, tf.errors.InvalidArgumentError) as error:
            assert records.is_read_error(error), error
            message = records.describe_read_error(folder, error)
            assert shard in message or folder in message, message
            refused += 1
    assert refused >= VARIANTS // 2   # every truncation at least


def test_damaged_tflite_files_through_convert_and_litert(tmp_path):
    from deeplab_tf import inference
    from deeplab_tf.weights.architecture import infer_architecture
    from deeplab_tf.weights.official import OfficialWeightsError
    from deeplab_tf.weights.tflite_reader import read_tflite
    original = open(shared_path("official", "deeplabv3_257_mv_gpu.tflite"), "rb").read()
    rng = np.random.default_rng(SEED)
    refused = 0
    for i, (kind, data) in enumerate(damaged(original, rng)):
        path = tmp_path / f"{kind}{i}.tflite"
        path.write_bytes(data)
        try:
            infer_architecture(read_tflite(path))
        except OfficialWeightsError as error:
            assert str(path) in str(error), error
            refused += 1
        try:
            inference.load_predictor(path)
        except ValueError as error:
            assert str(path) in str(error), error
    assert refused >= VARIANTS // 2


def test_damaged_checkpoints_resume_from_an_intact_one_or_stop_naming_them(tmp_path):
    from deeplab_tf.training import checkpoints
    from tests.training.test_checkpoint_recovery import _saved_run
    rng = np.random.default_rng(SEED)
    for i in range(VARIANTS // 2):
        folder = tmp_path / f"run{i}"
        variable, checkpoint, manager = _saved_run(folder)   # ckpt-1 (all 1), ckpt-2 (all 2)
        victims = [p for p in folder.iterdir() if p.name.startswith("ckpt-")]
        victim = victims[int(rng.integers(0, len(victims)))]
        kind, data = list(damaged(victim.read_bytes(), rng))[i % 2]
        victim.write_bytes(data)
        try:
            restored = checkpoints.restore_latest_intact(checkpoint, manager, log=lambda _: None)
            assert np.all(variable.numpy() == float(restored.rsplit("-", 1)[1])), (kind, victim)
        except checkpoints.CorruptCheckpoint as error:
            assert "ckpt-" in str(error), error

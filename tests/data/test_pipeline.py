"""build_dataset: element format, eval padding, determinism, per-replica sharding, bad records."""
import dataclasses
import re
import io

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from deeplab_tf.config import DataConfig
from deeplab_tf.data import prepare, records
from deeplab_tf.data.pipeline import build_dataset
from tests.conftest import shared_path
from tests.data.conftest import read_records


def _config(data_dir, **kwargs):
    return DataConfig(dataset="synthetic", data_dir=data_dir, batch_size=4, crop_size=(33, 33),
                      shuffle_buffer=16, deterministic=True, seed=7, **kwargs)


def test_training_batches(prepared_synthetic):
    batch = next(iter(build_dataset(_config(prepared_synthetic), "train")))
    assert batch["image"].shape == (4, 33, 33, 3) and batch["image"].dtype == tf.float32
    assert batch["label"].shape == (4, 33, 33) and batch["label"].dtype == tf.int32
    assert batch["id"].dtype == tf.string and batch["height"].dtype == tf.int32
    assert 0 <= float(tf.reduce_min(batch["image"])) and float(tf.reduce_max(batch["image"])) <= 255
    assert set(np.unique(batch["label"])) <= {0, 1, 2, 3, 4, 255}


def test_eval_gives_the_original_labels_and_valid_region(tmp_path):
    voc = shared_path("voc")
    prepare.prepare("voc2012", str(voc), str(tmp_path), progress=False)
    originals = read_records(str(tmp_path), "train")
    config = DataConfig(dataset="voc2012", data_dir=str(tmp_path), batch_size=2,
                        deterministic=True, mean_pixel=(123.68, 116.78, 103.94))
    seen = []
    for batch in build_dataset(config, "train", training=False):
        # Images of different sizes: padded to the batch's largest OS*k+1 crop.
        assert batch["image"].shape[1:3] == (385, 513)
        for i, image_id in enumerate(batch["id"].numpy()):
            _, label, image_bytes = originals[image_id.decode()]
            image = tf.io.decode_jpeg(image_bytes).numpy()   # TF's decoder (PIL's differs)
            h, w = int(batch["height"][i]), int(batch["width"][i])
            assert (h, w) == label.shape
            np.testing.assert_array_equal(batch["label"][i, :h, :w].numpy(), label)
            np.testing.assert_array_equal(batch["image"][i, :h, :w].numpy(), image)
            assert np.all(batch["label"][i, h:].numpy() == 255)
            assert np.all(batch["label"][i, :, w:].numpy() == 255)
            np.testing.assert_allclose(batch["image"][i, h:].numpy().reshape(-1, 3),
                                       np.tile(config.mean_pixel, ((385 - h) * 513, 1)))
            seen.append(image_id)
    assert len(seen) == 2
    fixed = next(iter(build_dataset(dataclasses.replace(config, eval_crop_size=(513, 513)),
                                    "val")))
    assert fixed["image"].shape == (1, 513, 513, 3)


def test_determinism_switch(prepared_synthetic):
    def first_batches(config):
        return [b["image"].numpy() for b in build_dataset(config, "train").take(3)]
    config = _config(prepared_synthetic)
    a, b = first_batches(config), first_batches(config)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    other = first_batches(dataclasses.replace(config, seed=8))
    assert any(not np.array_equal(x, y) for x, y in zip(a, other))


@pytest.mark.parametrize("num_shards", [1, 4])
def test_per_replica_sharding(tmp_path, prepared_synthetic, num_shards):
    import shutil
    raw = tmp_path / "raw"
    shutil.copytree(f"{prepared_synthetic}/../raw", raw)
    prepare.prepare("synthetic", str(raw), str(tmp_path / "out"), num_shards=num_shards,
                    progress=False)
    config = dataclasses.replace(_config(str(tmp_path / "out")), batch_size=4)
    ids = []
    for pipeline in range(2):
        context = tf.distribute.InputContext(num_input_pipelines=2,
                                             input_pipeline_id=pipeline,
                                             num_replicas_in_sync=2)
        batches = list(build_dataset(config, "val", input_context=context))
        assert all(b["image"].shape[0] <= 2 for b in batches)    # global 4 / 2 replicas
        ids.append({i for b in batches for i in b["id"].numpy()})
        train = next(iter(build_dataset(config, "train", input_context=context)))
        assert train["image"].shape[0] == 2
    assert not ids[0] & ids[1] and len(ids[0] | ids[1]) == 4


def test_a_real_strategy_distributes_the_dataset(prepared_synthetic):
    strategy = tf.distribute.OneDeviceStrategy("/cpu:0")
    config = _config(prepared_synthetic)
    dataset = strategy.distribute_datasets_from_function(
        lambda context: build_dataset(config, "train", input_context=context))
    batch = next(iter(dataset))
    assert batch["image"].shape == (4, 33, 33, 3)


def _write(folder, examples):
    path = folder / records.shard_name("val", 0, 1)
    with tf.io.TFRecordWriter(str(path)) as writer:
        for e in examples:
            writer.write(records.encode_example(*e))
    import json
    (folder / records.INFO_FILE).write_text(json.dumps({"dataset": "synthetic", "splits": {
        "val": {"num_examples": len(examples), "files": [path.name], "skipped": []}}}))


def _encoded(array, fmt):
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format=fmt)
    return buffer.getvalue()


def test_a_record_that_cannot_be_decoded_is_named(tmp_path):
    image = _encoded(np.full((9, 9, 3), 50, np.uint8), "JPEG")
    label = _encoded(np.zeros((9, 9), np.uint8), "PNG")
    _write(tmp_path, [(image, "jpeg", label, "good_one", 9, 9),
                      (image[:len(image) // 2], "jpeg", label, "broken_one", 9, 9)])
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match=r"(?s)cannot decode.*broken_one.*val-00000-of-00001.tfrecord"):
        list(build_dataset(_config(str(tmp_path)), "val"))
    _write(tmp_path, [(image, "jpeg", _encoded(np.zeros((5, 9), np.uint8), "PNG"),
                       "wrong_size", 9, 9)])
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match=r"(?s)label size differs.*wrong_size"):
        list(build_dataset(_config(str(tmp_path)), "val"))


def test_unprepared_folder_and_unknown_split(tmp_path, prepared_synthetic):
    with pytest.raises(FileNotFoundError, match="not a prepared dataset folder"):
        build_dataset(_config(str(tmp_path)), "train")
    with pytest.raises(ValueError, match=r"split 'test' is not prepared.*\['train', 'val'\]"):
        build_dataset(_config(prepared_synthetic), "test")
    with pytest.raises(ValueError, match="source='bogus'"):
        build_dataset(dataclasses.replace(_config(prepared_synthetic), source="bogus"), "val")


@pytest.mark.parametrize("field,value,message", [
    ("crop_size", (0, 33), "crop_size=(0, 33)"), ("eval_crop_size", (33,), "eval_crop_size"),
    ("min_scale", 3.0, "min_scale=3.0"), ("scale_step", -1.0, "scale_step=-1.0"),
    ("mean_pixel", (1.0, 2.0), "mean_pixel"), ("batch_size", 0, "batch_size=0")])
def test_bad_data_config_is_named(prepared_synthetic, field, value, message):
    config = dataclasses.replace(_config(prepared_synthetic), **{field: value})
    with pytest.raises(ValueError, match=f"DataConfig: .*{re.escape(message)}"):
        build_dataset(config, "train")


@pytest.mark.slow   # ~10 s alone, ~25 s on the shared machine (a TensorFlow subprocess)
def test_mirrored_strategy_gets_per_replica_batches(prepared_synthetic):
    import json
    import os
    import subprocess
    import sys
    from tests.conftest import REPO
    result = subprocess.run(
        [sys.executable, str(REPO / "tests" / "data" / "_mirrored.py"), prepared_synthetic],
        capture_output=True, text=True, timeout=300, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert result.returncode == 0, result.stderr[-3000:]
    for step in json.loads(result.stdout.strip().splitlines()[-1]):
        first, second = step["replicas"]
        assert first["batch"] == second["batch"] == 2          # global 4 over 2 replicas
        assert first["device"] != second["device"]
        assert not set(first["ids"]) & set(second["ids"]), step

"""deeplab_tf.restore: a run folder, a checkpoint prefix, a .keras and a .weights.h5 file give
the same keras.Model, at their own output stride or rebuilt at another one, and every
unreadable input is one error line naming it."""
import numpy as np
import pytest
import tensorflow as tf

import deeplab_tf
from deeplab_tf.predictors import load_checkpoint
from deeplab_tf.restore import rebuild_at_output_stride, restore_model
from deeplab_tf.training import checkpoints
from tests.training.test_best_checkpoint import TINY, _signature
from tests.training.test_checkpoint_recovery import _truncate

PRESET = "deeplabv3_mobilenetv2"


@pytest.fixture(scope="module")
def model():
    """A tiny OS16 model whose outputs vary over the image (the default logits conv starts at
    zero, and large random weights saturate every ReLU6 into a constant map)."""
    model = deeplab_tf.build_model(PRESET, num_classes=3, **TINY)
    rng = np.random.default_rng(0)
    for w in model.weights:
        if len(w.shape) == 4:
            w.assign(rng.normal(0, np.sqrt(2.0 / np.prod(w.shape[:3])), w.shape))
        elif w.path.endswith(("beta", "moving_mean", "bias")):
            w.assign(rng.normal(0, 0.1, w.shape))
    return model


def _same_weights(a, b):
    assert [w.path for w in a.weights] == [w.path for w in b.weights]
    for x, y in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(x, y)


def _run(folder, model):
    """A training run folder: model_signature.json and a CheckpointManager checkpoint holding
    the model beside an optimizer and step, as deeplab_tf.train writes them."""
    checkpoints.write_signature(str(folder), _signature(model))
    checkpoint = checkpoints.make_checkpoint(model, tf.keras.optimizers.SGD(0.1),
                                             tf.Variable(7, dtype=tf.int64))
    return tf.train.CheckpointManager(checkpoint, str(folder), max_to_keep=2).save(7)


def test_run_folder_prefix_keras_and_weights_files_restore_the_same_model(tmp_path, model):
    prefix = _run(tmp_path / "run", model)
    _same_weights(restore_model(tmp_path / "run"), model)
    _same_weights(restore_model(prefix), model)
    # (.keras: test_another_output_stride_keeps_every_weight.) A weights file names no
    # architecture: the signature beside it does, or the preset passed.
    (tmp_path / "alone").mkdir()
    model.save_weights(tmp_path / "alone" / "m.weights.h5")
    _same_weights(restore_model(tmp_path / "alone" / "m.weights.h5", preset=PRESET,
                                num_classes=3, overrides=TINY.items()), model)
    # train --init=checkpoint:FILE comes through here too (this run's preset and classes).
    from deeplab_tf.config import ModelConfig
    from deeplab_tf.models.builder import model_info
    from deeplab_tf.training.initialization import initialize
    fresh = deeplab_tf.build_model(PRESET, num_classes=3, **TINY)
    info = model_info(PRESET, num_classes=3, **TINY)
    copied = initialize(fresh, f"checkpoint:{tmp_path / 'alone' / 'm.weights.h5'}", info=info,
                        model_config=ModelConfig(PRESET, 3, None, tuple(TINY.items())),
                        initialize_last_layer=False, log=lambda _: None)
    assert set(info["logits_layers"]).isdisjoint(copied) and len(copied) > 50
    for name in copied:
        for a, b in zip(fresh.get_layer(name).get_weights(), model.get_layer(name).get_weights()):
            np.testing.assert_array_equal(a, b)

    # Each unreadable input: one line naming it.
    def error(kind, path, match, **kwargs):
        with pytest.raises(kind, match=match) as caught:
            restore_model(path, name=f"--checkpoint={path}", **kwargs)
        assert "\n" not in str(caught.value) and f"--checkpoint={path}" in str(caught.value)
    error(FileNotFoundError, tmp_path / "alone", "no TF checkpoint found")
    error(FileNotFoundError, tmp_path / "alone" / "m.weights.h5", "model_signature.json is "
          "missing")
    (tmp_path / "bad.keras").write_bytes(b"not a zip")
    error(ValueError, tmp_path / "bad.keras", "is not a .keras file")
    (tmp_path / "bad.weights.h5").write_bytes(b"not hdf5")
    error(ValueError, tmp_path / "bad.weights.h5", "cannot be read into", preset=PRESET,
          num_classes=3, overrides=TINY.items())
    _truncate(prefix, ".data-*")
    with pytest.raises(checkpoints.CorruptCheckpoint, match="ckpt-7 cannot be read") as caught:
        restore_model(tmp_path / "run")
    assert "\n" not in str(caught.value)


def test_another_output_stride_keeps_every_weight(tmp_path, model):
    _run(tmp_path / "run", model)
    # evaluate --checkpoint=RUN --eval_output_stride=8 (predictors.load_checkpoint).
    at8, prefix = load_checkpoint(str(tmp_path / "run"), output_stride=8)
    assert prefix.endswith("ckpt-7")
    _same_weights(at8, model)
    # On a one-pixel image every window of either stride sees only its centre tap, so the two
    # strides agree exactly; on a larger image the denser OS8 features differ.
    pixel = np.full((1, 1, 1, 3), 200.0, np.float32)
    np.testing.assert_allclose(at8(pixel), model(pixel), atol=1e-5)
    image = np.random.default_rng(1).uniform(0, 255, (1, 33, 33, 3)).astype(np.float32)
    assert np.abs(at8(image) - model(image)).max() > 1e-3
    # A .keras file rebuilt at OS8 (its preset from the model's name) is the same model.
    model.save(tmp_path / "m.keras")
    keras_at8 = restore_model(tmp_path / "m.keras", output_stride=8, overrides=TINY.items())
    _same_weights(keras_at8, model)
    np.testing.assert_allclose(keras_at8(image), at8(image), atol=1e-5)
    # Another architecture does not fit: named, not half copied.
    with pytest.raises(ValueError, match="of the OS8 rebuild is missing from model"):
        rebuild_at_output_stride(model, 8, width_multiplier=0.25, aspp_depth=8)

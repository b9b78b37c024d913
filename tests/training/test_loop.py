"""The train loop in-process (default strategy, tiny Keras models, in-memory batches): NaN
guard, gradient accumulation, last-layer multiplier (on a built preset), frozen BatchNorm,
multi-scale input."""
import numpy as np
import pytest
import tensorflow as tf
import keras

from deeplab_tf.config import TrainConfig
from deeplab_tf.models.builder import build_model, model_info
from deeplab_tf.training.loop import TrainingDiverged, train
from deeplab_tf.training.step import forward

RNG = np.random.RandomState(0)
IMAGES = RNG.uniform(0, 255, [16, 9, 9, 3]).astype("float32")
LABELS = (IMAGES[..., 0] // 86).astype("int32")


def tiny(batch_norm=False, seed=0):
    keras.utils.set_random_seed(seed)
    x = keras.Input([None, None, 3])
    y = keras.layers.Rescaling(1 / 255.0)(x)
    y = keras.layers.Conv2D(8, 3, padding="same", use_bias=False, name="conv")(y)
    if batch_norm:
        y = keras.layers.BatchNormalization(name="bn")(y)
    y = keras.layers.ReLU()(y)
    y = keras.layers.Conv2D(3, 1, name="logits")(y)
    return keras.Model(x, y)


# A built preset, tiny: MobileNetV2 v3 head at 1/8 width, no dropout (both runs see the same
# forward pass).
PRESET, OVERRIDES = "deeplabv3_mobilenetv2", dict(width_multiplier=0.125, aspp_depth=8,
                                                  dropout=0.0)


def tiny_preset(seed=0):
    keras.utils.set_random_seed(seed)
    return build_model(PRESET, num_classes=3, **OVERRIDES)


def dataset(images=IMAGES, labels=LABELS, batch=4):
    return lambda ctx: tf.data.Dataset.from_tensor_slices(
        {"image": images, "label": labels}).batch(batch)


def config(tmp_path, **kw):
    base = dict(model_dir=str(tmp_path), train_steps=2, base_learning_rate=0.1,
                checkpoint_every=1, log_every=1, summary_every=1, image_summary_every=0,
                weight_decay=0.0)
    return TrainConfig(**{**base, **kw})


def run(model, tmp_path, make=dataset(), logits_layers=(), **kw):
    return train(model, config=config(tmp_path, **kw), strategy=tf.distribute.get_strategy(),
                 num_classes=3, make_train_dataset=make, global_batch_size=4,
                 logits_layers=logits_layers, log=lambda s: None)


def test_nan_loss_stops_the_run_naming_the_step_and_keeps_the_last_good_checkpoint(tmp_path):
    images = IMAGES.copy()
    images[8] = np.nan   # the third batch (step 3) holds a NaN pixel
    with pytest.raises(TrainingDiverged, match=r"loss is nan at step 3.*ckpt-2"):
        run(tiny(), tmp_path, make=dataset(images), train_steps=5)
    assert tf.train.latest_checkpoint(str(tmp_path)).endswith("ckpt-2")


def test_gradient_accumulation_equals_the_full_batch(tmp_path):
    full, accumulated = tiny(), tiny()
    run(full, tmp_path / "full", weight_decay=1e-3)
    run(accumulated, tmp_path / "acc", accumulation_steps=2, weight_decay=1e-3)
    for a, b in zip(full.get_weights(), accumulated.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


def test_last_layer_gradient_multiplier_scales_only_the_logits_update(tmp_path):
    names = model_info(PRESET, num_classes=3, **OVERRIDES)["logits_layers"]
    initial = tiny_preset().get_weights()
    plain, boosted = tiny_preset(), tiny_preset()
    run(plain, tmp_path / "p", train_steps=1, logits_layers=names)
    run(boosted, tmp_path / "b", train_steps=1, last_layer_gradient_multiplier=10.0,
        logits_layers=names)
    # Keras variable paths are "<layer name>/<weight>".
    paths = [w.path for w in plain.weights]
    assert {p.split("/")[0] for p in paths} >= set(names)
    for path, w0, a, b in zip(paths, initial, plain.get_weights(), boosted.get_weights()):
        factor = 10.0 if path.split("/")[0] in names else 1.0
        if factor != 1.0:
            assert np.abs(a - w0).max() > 0, path
        # SGD + momentum from zero: the first update is -lr * multiplier * gradient.
        np.testing.assert_allclose(b - w0, factor * (a - w0), rtol=1e-3, atol=1e-6,
                                   err_msg=path)


def test_last_layer_gradient_multiplier_needs_the_logits_layer_names(tmp_path):
    with pytest.raises(ValueError, match="needs the names of the logits layers"):
        run(tiny(), tmp_path, train_steps=1, last_layer_gradient_multiplier=10.0)
    with pytest.raises(ValueError, match=r"\['fc8'\] are not in model"):
        run(tiny(), tmp_path / "other", train_steps=1, last_layer_gradient_multiplier=10.0,
            logits_layers=["fc8"])


def test_frozen_batch_norm_keeps_statistics_and_scale(tmp_path):
    model = tiny(batch_norm=True)
    before = [w.copy() for w in model.get_layer("bn").get_weights()]
    run(model, tmp_path, fine_tune_batch_norm=False)
    for a, b in zip(before, model.get_layer("bn").get_weights()):
        np.testing.assert_array_equal(a, b)
    assert not np.allclose(model.get_layer("conv").get_weights()[0], tiny().get_weights()[0])


def test_multi_scale_training_fuses_by_max(tmp_path):
    model = tiny()
    images = tf.constant(IMAGES[:2])
    outputs = forward(model, images, (1.0, 0.75, 0.5), training=False)
    assert [o.shape[1] for o in outputs] == [9, 7, 5, 9]   # (9-1)*s+1, then the fused one
    assert np.all(outputs[3].numpy() >= outputs[0].numpy() - 1e-6)
    result = run(model, tmp_path, train_scales=(1.0, 0.75, 0.5))
    assert np.isfinite(result.loss)


def test_resume_continues_from_the_saved_step(tmp_path):
    model = tiny()
    run(model, tmp_path, train_steps=2)
    result = run(tiny(seed=1), tmp_path, train_steps=3)
    assert result.step == 3


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_mixed_precision_trains_with_float32_loss(tmp_path, policy):
    keras.mixed_precision.set_global_policy(policy)
    try:
        model = tiny(batch_norm=True)
        assert model.get_layer("conv").compute_dtype != "float32"
        result = run(model, tmp_path, mixed_precision=policy, train_steps=2)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert np.isfinite(result.loss) and result.step == 2

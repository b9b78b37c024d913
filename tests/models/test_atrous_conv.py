"""AtrousConv2D and BatchNorm: the fast paths compute what Keras' layers compute.

Both layers replace Keras' implementation for speed (deeplab_tf/models/atrous_conv.py and
layers.BatchNorm say why); these tests hold them to Keras' outputs, gradients and moving
statistics, in float32 and bfloat16.
"""
import keras
import numpy as np
import pytest
import tensorflow as tf

from deeplab_tf.models import atrous_conv
from deeplab_tf.models.atrous_conv import (AtrousConv2D, _atrous_conv_for_training,
                                           _filter_grad_by_taps, _tap_overlap)
from deeplab_tf.models.layers import BatchNorm


def _forward_and_grads(fn, x, w, dtype):
    with tf.GradientTape() as tape:
        xa, wa = tf.cast(x, dtype), tf.cast(w, dtype)
        tape.watch([xa, wa])
        y = fn(xa, wa)
    # A fixed random upstream gradient: both implementations get the same dy, so the gradients
    # compare the backward passes alone (a loss of y would amplify forward rounding).
    dy = tf.cast(tf.random.stateless_normal(y.shape, seed=[1, 2]), dtype)
    grads = tape.gradient(y, [xa, wa], output_gradients=dy)
    return [tf.cast(t, tf.float32).numpy() for t in [y, *grads]]


def _keras_reference(rate):
    """Keras' own dilated convolution (tf.nn.convolution: SpaceToBatchND around a plain
    convolution), whose gradients every CPU computes, in float32."""
    return lambda a, b: tf.nn.convolution(a, b, padding="SAME", dilations=list(rate))


# The CPU kernels this machine has (oneDNN's dilated gradients, or TensorFlow's Eigen fallback
# without them), and the fallback forced, so every CPU runs both code paths it can.
@pytest.fixture(params=["this_cpu", "no_native_dilated_gradients"])
def kernels(request, monkeypatch):
    if request.param != "this_cpu":
        monkeypatch.setattr(atrous_conv, "_native_dilated_gradients", lambda dtype: False)
    return request.param


# bfloat16 against the float32 reference: about two bfloat16 roundings (2**-8 each); Keras'
# own bfloat16 convolution is 2.6e-3 to 5.3e-3 away on these cases, ours 2.6e-3 to 5.3e-3.
@pytest.mark.parametrize("dtype,rtol", [(tf.float32, 1e-5), (tf.bfloat16, 8e-3),
                                        (tf.float16, 2e-3)])
@pytest.mark.parametrize("size,rate", [((21, 21), (2, 2)), ((21, 17), (6, 6)),
                                       ((21, 21), (18, 18)), ((9, 13), (5, 3)),
                                       ((7, 7), (24, 24))])
def test_training_path_matches_conv2d(kernels, dtype, rtol, size, rate):
    rng = np.random.RandomState(0)
    x = tf.constant(rng.randn(2, *size, 32).astype("float32"))
    w = tf.constant(rng.randn(3, 3, 32, 16).astype("float32"))
    reference = _forward_and_grads(_keras_reference(rate), x, w, tf.float32)
    ours = _forward_and_grads(
        lambda a, b: _atrous_conv_for_training(a, b, rate, "SAME"), x, w, dtype)
    for name, ref, got in zip(("output", "d_input", "d_kernel"), reference, ours):
        scale = np.abs(ref).max()
        assert np.abs(got - ref).max() <= rtol * scale, name


@pytest.mark.parametrize("dtype,rtol", [(tf.float32, 1e-5), (tf.bfloat16, 8e-3)])
def test_training_path_with_unknown_spatial_size(kernels, dtype, rtol):
    # Traced without static H, W (the per-tap forms need them): no further from the float32
    # result than Keras' own convolution in that dtype (TensorFlow's Eigen CPU kernels sum
    # bfloat16 filter gradients in bfloat16: 1.8e-2 away here, where oneDNN is 5e-3 away).
    rng = np.random.RandomState(7)
    x = tf.constant(rng.randn(2, 13, 11, 8).astype("float32"))
    w = tf.constant(rng.randn(3, 3, 8, 4).astype("float32"))
    ours_fn = tf.function(lambda a, b: _atrous_conv_for_training(a, b, (4, 4), "SAME"),
                          input_signature=[tf.TensorSpec([None, None, None, 8], dtype),
                                           tf.TensorSpec([3, 3, 8, 4], dtype)])
    reference = _forward_and_grads(_keras_reference((4, 4)), x, w, tf.float32)
    keras_same_dtype = _forward_and_grads(_keras_reference((4, 4)), x, w, dtype)
    ours = _forward_and_grads(ours_fn, x, w, dtype)
    for name, ref, keras_got, got in zip(("output", "d_input", "d_kernel"), reference,
                                         keras_same_dtype, ours):
        allowed = max(rtol * np.abs(ref).max(), 1.5 * np.abs(keras_got - ref).max())
        assert np.abs(got - ref).max() <= allowed, name


def test_native_gradient_probe_matches_what_the_kernels_do():
    # The probe's answer is what running the op says on this CPU (oneDNN or Eigen).
    x = tf.zeros([1, 6, 6, 2])
    try:
        tf.raw_ops.Conv2DBackpropFilter(input=x, filter_sizes=[3, 3, 2, 2], out_backprop=x,
                                        strides=[1, 1, 1, 1], padding="SAME",
                                        dilations=[1, 3, 3, 1])
        works = True
    except tf.errors.InvalidArgumentError:
        works = False
    assert atrous_conv._native_dilated_gradients(tf.float32) is works


def test_filter_grad_skips_taps_that_only_see_padding():
    rng = np.random.RandomState(1)
    x = tf.constant(rng.randn(1, 5, 5, 3).astype("float32"))
    dy = tf.constant(rng.randn(1, 5, 5, 2).astype("float32"))
    # Rate 6 on a 5x5 map: every off-centre tap reads only padding.
    assert _tap_overlap(x.shape, (3, 3, 3, 2), (6, 6)) == pytest.approx(1 / 9)
    grad = _filter_grad_by_taps(x, dy, (3, 3, 3, 2), (6, 6)).numpy()
    centre = np.einsum("bhwi,bhwo->io", x.numpy(), dy.numpy())
    np.testing.assert_allclose(grad[1, 1], centre, rtol=1e-5)
    grad[1, 1] = 0
    assert not grad.any()


@pytest.mark.parametrize("training", [False, True])
def test_layer_equals_keras_conv2d(training):
    rng = np.random.RandomState(2)
    x = tf.constant(rng.randn(2, 15, 15, 8).astype("float32"))
    ours = AtrousConv2D(4, 3, dilation_rate=4, padding="same", activation="relu", name="c")
    keras_conv = keras.layers.Conv2D(4, 3, dilation_rate=4, padding="same", activation="relu")
    ours.build(x.shape)
    keras_conv.build(x.shape)
    keras_conv.set_weights([rng.randn(3, 3, 8, 4).astype("float32"),
                            rng.randn(4).astype("float32")])
    ours.set_weights(keras_conv.get_weights())
    np.testing.assert_allclose(ours(x, training=training).numpy(), keras_conv(x).numpy(),
                               rtol=1e-5, atol=1e-5)
    assert isinstance(ours, keras.layers.Conv2D)
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(ours))
    assert type(restored) is AtrousConv2D and restored.get_config() == ours.get_config()


def _bn_pair(channels, epsilon, rng):
    keras_bn = keras.layers.BatchNormalization(momentum=0.9, epsilon=epsilon)
    ours = BatchNorm(momentum=0.9, epsilon=epsilon)
    for layer in (keras_bn, ours):
        layer.build((None, None, None, channels))
    weights = [rng.rand(channels) + 0.5, rng.randn(channels), rng.randn(channels),
               rng.rand(channels) + 1.0]
    for layer in (keras_bn, ours):
        layer.set_weights([w.astype("float32") for w in weights])
    return keras_bn, ours


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("epsilon", [1e-3, 1e-5])
def test_batch_norm_equals_keras(training, epsilon):
    rng = np.random.RandomState(3)
    x = tf.constant((rng.randn(3, 7, 9, 5) * 2 + 1).astype("float32"))
    results = []
    for layer in _bn_pair(5, epsilon, rng):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = layer(x, training=training)
            loss = tf.reduce_sum(y * tf.sin(y))
        grads = tape.gradient(loss, [x, layer.gamma, layer.beta])
        results.append([t.numpy() for t in [y, *grads, layer.moving_mean, layer.moving_variance]])
    names = ("output", "d_input", "d_gamma", "d_beta", "moving_mean", "moving_variance")
    for name, ref, got in zip(names, *results):
        # epsilon 1e-5 is raised to the fused kernel's minimum 1.001e-5 (as official slim did).
        np.testing.assert_allclose(got, ref, rtol=2e-5, atol=2e-5 * np.abs(ref).max(),
                                   err_msg=name)


def test_frozen_batch_norm_uses_moving_statistics():
    rng = np.random.RandomState(4)
    x = tf.constant(rng.randn(2, 4, 4, 3).astype("float32"))
    keras_bn, ours = _bn_pair(3, 1e-3, rng)
    for layer in (keras_bn, ours):
        layer.trainable = False
    np.testing.assert_allclose(ours(x, training=True).numpy(),
                               keras_bn(x, training=True).numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(ours.moving_mean.numpy(), keras_bn.moving_mean.numpy())


def test_batch_norm_bfloat16_keeps_activations_in_bfloat16():
    rng = np.random.RandomState(5)
    x = tf.constant(rng.randn(2, 6, 6, 4).astype("float32"))
    keras_bn, ours = _bn_pair(4, 1e-3, rng)
    ours_bf16 = BatchNorm(momentum=0.9, epsilon=1e-3, dtype="mixed_bfloat16")
    ours_bf16.build(x.shape)
    ours_bf16.set_weights(ours.get_weights())
    y = ours_bf16(tf.cast(x, tf.bfloat16), training=True)
    assert y.dtype == tf.bfloat16 and ours_bf16.moving_mean.dtype == "float32"
    np.testing.assert_allclose(tf.cast(y, tf.float32).numpy(), keras_bn(x, training=True).numpy(),
                               atol=0.05)


def test_batch_norm_inference_after_a_convolution_equals_keras(monkeypatch):
    # Traced after a Conv2D, inference takes the fused kernel (which Grappler folds into the
    # convolution); eagerly or after other ops it takes Keras' multiply-add. Both must agree.
    fused_calls = []
    fused = tf.compat.v1.nn.fused_batch_norm
    monkeypatch.setattr(tf.compat.v1.nn, "fused_batch_norm",
                        lambda *a, **k: fused_calls.append(1) or fused(*a, **k))
    rng = np.random.RandomState(6)
    x = tf.constant(rng.randn(2, 9, 9, 4).astype("float32"))
    kernel = tf.constant(rng.randn(3, 3, 4, 5).astype("float32"))
    keras_bn, ours = _bn_pair(5, 1e-3, rng)

    @tf.function
    def run(layer):
        return layer(tf.nn.conv2d(x, kernel, 1, "SAME"), training=False)

    np.testing.assert_allclose(run(ours).numpy(), run(keras_bn).numpy(), rtol=1e-5, atol=1e-5)
    assert fused_calls, "the fused inference path was not taken"

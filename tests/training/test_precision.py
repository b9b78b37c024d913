"""--mixed_precision: `auto` picks the policy from the devices, and 16-bit training runs on any
CPU (the kernels without native 16-bit support fall back, see models/atrous_conv.py). The
command line's resolution (logged, written to flags.txt) is checked on every recipe that asks
for `auto` (tests/training/test_recipes.py)."""
import numpy as np
import pytest
import tensorflow as tf

from deeplab_tf.training import precision


def _cpuinfo(tmp_path, flags):
    path = tmp_path / "cpuinfo"
    path.write_text(f"processor\t: 0\nflags\t\t: {' '.join(flags)}\n\nprocessor\t: 1\n")
    return str(path)


@pytest.mark.parametrize("flags, expected", [
    (["fpu", "avx2", "avx512f", "amx_tile", "amx_bf16", "amx_int8"], "mixed_bfloat16"),
    (["fpu", "avx2", "avx512f", "avx512_vnni"], "none"),     # AVX-512 without AMX
    (["fpu", "avx2", "avx512f", "avx512_bf16"], "none"),     # bfloat16 dot products, no AMX
    (["fpu", "avx", "avx2"], "none"),
    ([], "none")])                                           # no flags line at all
def test_auto_on_a_cpu_follows_amx(monkeypatch, tmp_path, flags, expected):
    path = _cpuinfo(tmp_path, flags)
    read = precision.cpu_flags.__wrapped__   # the uncached reader
    monkeypatch.setattr(precision, "cpu_flags", lambda: read(path))
    monkeypatch.setattr(precision, "_gpu_capabilities", lambda tf: [])
    policy, reason = precision.resolve("auto")
    assert policy == expected and ("AMX" in reason)


@pytest.mark.parametrize("capabilities, expected", [
    ([(8, 0), (9, 0)], "mixed_bfloat16"), ([(7, 5)], "mixed_float16"),
    ([(8, 6), (7, 0)], "mixed_float16"),   # the slowest GPU decides
    ([(6, 1)], "none")])
def test_auto_on_gpus_follows_the_compute_capability(monkeypatch, capabilities, expected):
    monkeypatch.setattr(precision, "_gpu_capabilities", lambda tf: capabilities)
    assert precision.resolve("auto")[0] == expected


def test_auto_on_a_tpu_strategy_is_bfloat16():
    class TPUStrategyV2:   # stands in for the real class (no TPU here): resolve reads the type
        pass
    assert precision.resolve("auto", TPUStrategyV2()) == ("mixed_bfloat16", "TPU")


def test_explicit_policies_pass_through_and_unknown_ones_are_refused():
    for policy in precision.POLICIES:
        assert precision.resolve(policy)[0] == policy
    with pytest.raises(ValueError, match="--mixed_precision='fp8'; allowed: auto, none"):
        precision.resolve("fp8")


def test_this_cpu_reads_its_own_flags():
    # On Linux the file exists and lists at least the base x86/arm features.
    flags = precision.cpu_flags()
    assert not flags or {"fpu", "fp", "sse2", "avx", "asimd"} & set(flags)


@pytest.mark.parametrize("policy", ["mixed_bfloat16", "mixed_float16"])
def test_sixteen_bit_training_steps_run_on_this_cpu(policy, tmp_path):
    # The whole train step of a model with dilated convolutions (v2 ResNet ASPP branches and a
    # v3 ASPP), whatever 16-bit kernels this CPU has.
    import keras
    import deeplab_tf
    from deeplab_tf.config import TrainConfig
    from deeplab_tf.training.loop import train
    keras.mixed_precision.set_global_policy(policy)
    try:
        model = deeplab_tf.build_model("deeplabv3_resnet50", num_classes=3, output_stride=8,
                                       width_multiplier=0.125)
        rng = np.random.RandomState(0)
        images = rng.uniform(0, 255, [4, 33, 33, 3]).astype("float32")
        labels = rng.randint(0, 3, [4, 33, 33]).astype("int32")
        make = lambda ctx: tf.data.Dataset.from_tensor_slices(   # noqa: E731
            {"image": images, "label": labels}).repeat().batch(2)
        config = TrainConfig(model_dir=str(tmp_path), train_steps=2, mixed_precision=policy,
                             checkpoint_every=2, log_every=1, image_summary_every=0)
        before = model.get_layer("aspp3").get_weights()[0].copy()
        result = train(model, config=config, strategy=tf.distribute.get_strategy(),
                       num_classes=3, make_train_dataset=make, global_batch_size=2,
                       final_eval=False, log=lambda s: None)
        assert result.step == 2 and np.isfinite(result.loss)
        assert not np.array_equal(model.get_layer("aspp3").get_weights()[0], before)
    finally:
        keras.mixed_precision.set_global_policy("float32")

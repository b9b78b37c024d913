"""Synthesised ImageNet classification checkpoints in the official naming (no download).

    from tests.training.imagenet_checkpoints import write_imagenet_checkpoint
    prefix = write_imagenet_checkpoint("deeplabv3_resnet101", tmp_path / "model.ckpt",
                                       width_multiplier=0.125)
    initialize(model, f"official:{prefix}", ...)

The tensors come from the package's own name map: the preset is built (with the given
build_model overrides, e.g. a tiny width_multiplier), deeplab_tf.weights.official
.official_tensors(model) is restricted to the backbone scope (BackboneSpec.official_scope) and
given random values. Then what a real ImageNet checkpoint holds besides the feature extractor
is added, so that loading it must ignore all of it:
  - the classifier: "<scope>/logits/{weights, biases}" (slim nets/resnet_v1.py,
    research/deeplab/core/xception.py), for MobileNetV2 "MobilenetV2/Logits/Conv2d_1c_1x1/..."
    and the final 1x1 conv "MobilenetV2/Conv_1" (+ BatchNorm) that DeepLab never builds;
  - "global_step" (int64 scalar), one "<tensor>/Momentum" optimizer slot and one
    "<tensor>/ExponentialMovingAverage" copy.
"""
import numpy as np

import deeplab_tf
from deeplab_tf.models.builder import model_info
from deeplab_tf.weights.checkpoint_reader import write_checkpoint
from deeplab_tf.weights.official import official_tensors

# MobileNetV2's last conv before the classifier: 1280 channels (slim mobilenet_v2.py V2_DEF).
_MOBILENET_V2_LAST = 1280


def backbone_scope(preset, **build_overrides):
    """The official backbone scope of a preset, e.g. "resnet_v1_101"."""
    return model_info(preset, **build_overrides)["backbone"].official_scope


def imagenet_tensors(preset, num_logits=1001, seed=0, **build_overrides):
    """{official name: array} of a synthesised ImageNet checkpoint (see the module docstring).

    Args:
      preset: a deeplab_tf preset; only its backbone matters.
      num_logits: classifier width (1001 for the DeepLab and MobileNetV2 files, 1000 for slim's
        ResNets).
      seed: seeds the random values (BatchNorm variances positive, gammas around 1).
      **build_overrides: deeplab_tf.build_model keyword arguments (width_multiplier=0.125 ...).
    """
    scope = backbone_scope(preset, **build_overrides)
    model = deeplab_tf.build_model(preset, **build_overrides)
    rng = np.random.default_rng(seed)
    tensors = {}
    for name, value in official_tensors(model).items():
        if not name.startswith(scope + "/"):
            continue  # the DeepLab head: not in an ImageNet checkpoint
        if name.endswith(("/gamma", "/moving_variance")):
            tensors[name] = rng.uniform(0.5, 1.5, value.shape).astype(np.float32)
        else:
            tensors[name] = rng.normal(0.0, 0.1, value.shape).astype(np.float32)
    # Model order: the last kernel is the backbone's last convolution, the classifier's input.
    kernels = [n for n in tensors if n.endswith(("/weights", "/pointwise_weights"))]
    channels = tensors[kernels[-1]].shape[-1]
    if scope == "MobilenetV2":
        tensors[f"{scope}/Conv_1/weights"] = rng.normal(
            0.0, 0.1, (1, 1, channels, _MOBILENET_V2_LAST)).astype(np.float32)
        for stat in ("gamma", "beta", "moving_mean", "moving_variance"):
            tensors[f"{scope}/Conv_1/BatchNorm/{stat}"] = rng.uniform(
                0.5, 1.5, (_MOBILENET_V2_LAST,)).astype(np.float32)
        classifier, channels = f"{scope}/Logits/Conv2d_1c_1x1", _MOBILENET_V2_LAST
    else:
        classifier = f"{scope}/logits"
    tensors[f"{classifier}/weights"] = rng.normal(
        0.0, 0.01, (1, 1, channels, num_logits)).astype(np.float32)
    tensors[f"{classifier}/biases"] = np.zeros(num_logits, np.float32)
    first = kernels[0]
    tensors["global_step"] = np.array(600000, np.int64)
    tensors[f"{first}/Momentum"] = np.zeros_like(tensors[first])
    tensors[f"{first}/ExponentialMovingAverage"] = tensors[first] + 1.0
    return tensors


def write_imagenet_checkpoint(preset, prefix, num_logits=1001, *, seed=0, v1=False,
                              **build_overrides):
    """Writes a synthesised ImageNet classification checkpoint of `preset`'s backbone.

    Args:
      preset: a deeplab_tf preset whose backbone has an official scope (ResNet, Xception-65,
        MobileNetV2).
      prefix: checkpoint prefix to write, e.g. tmp_path / "imagenet" / "model.ckpt" (folders
        are created). With v1=True: the single V1 file, e.g. ".../resnet_v1_101.ckpt".
      num_logits: classifier width.
      seed: random values' seed.
      v1: write TF1's V1 single-file format, as slim's 2016 ResNet checkpoints are.
      **build_overrides: deeplab_tf.build_model overrides, e.g. width_multiplier=0.125;
        the model to initialise must be built with the same ones.
    Returns:
      the prefix (str), usable as --init=official:PREFIX (or its folder).
    """
    return write_checkpoint(imagenet_tensors(preset, num_logits, seed, **build_overrides),
                            prefix, v1=v1)

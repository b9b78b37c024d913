"""Backbone registry: every backbone described once.

Contract for a backbone builder (one function per family, in its own module):

    build(x, *, output_stride, bn, width_multiplier=1.0, **kwargs) -> dict

    x: the preprocessed image tensor [B, H, W, 3] (Preprocess already applied by the caller).
    output_stride: 8, 16 or 32. Strides past that are replaced by atrous convolution: once the
      target stride is reached, later strides become 1 and the dilation rate multiplies by each
      skipped stride (the slim rule the official code uses).
    bn: {"momentum": float, "epsilon": float} (BackboneSpec.bn unless overridden).
    width_multiplier: scales channel counts (tests use tiny widths; 1.0 = the paper).
    returns endpoints: {4: t, 8: t, ..., "out": t} where an int key s is the last feature map
      whose nominal stride is s (present for s <= output_stride), and "out" is the final feature
      map [B, (H-1)/OS+1, (W-1)/OS+1, C] (for H of the form OS*k+1).

"""
import dataclasses
import importlib
from typing import Callable, Tuple

OUTPUT_STRIDES = (8, 16, 32)


@dataclasses.dataclass(frozen=True)
class BackboneSpec:
    name: str
    module: str                  # deeplab_tf.models.backbones.<module>
    function: str                # builder function in that module
    preprocessing: str           # a layers.PREPROCESSING_MODES entry
    bn: dict                     # official BatchNorm defaults {"momentum", "epsilon"}
    official_scope: str          # e.g. "resnet_v1_101", "xception_65", "MobilenetV2"
    output_strides: Tuple[int, ...] = OUTPUT_STRIDES
    kwargs: dict = dataclasses.field(default_factory=dict)  # fixed builder arguments
    # The Keras ImageNet file family that fits (weights/imagenet.py); "" = `name`.
    imagenet_family: str = ""

    @property
    def build(self) -> Callable:
        fn = getattr(importlib.import_module(f"deeplab_tf.models.backbones.{self.module}"),
                     self.function)
        if not self.kwargs:
            return fn
        return lambda x, **kw: fn(x, **{**self.kwargs, **kw})


# BatchNorm defaults (Keras momentum = TF1 decay), checked against the official code:
# - ResNet: research/deeplab/core/feature_extractor.py extract_features passes
#   batch_norm_decay=0.95, batch_norm_epsilon=1e-5 to resnet_v1_beta.resnet_arg_scope.
# - Xception: the same function passes batch_norm_decay=0.9997, batch_norm_epsilon=1e-3.
# - MobileNetV2: mobilenet_v2.training_scope is called without bn_decay, so its default
#   0.997 applies (nets/mobilenet/mobilenet.py training_scope), with slim's default
#   epsilon 1e-3.
# (The DeepLab head's own BatchNorm, in model.py, is decay 0.9997, epsilon 1e-5: HEAD_BN in
# deeplab_v3.py.)
_BN_RESNET = {"momentum": 0.95, "epsilon": 1e-5}
_BN_XCEPTION = {"momentum": 0.9997, "epsilon": 1e-3}
_BN_MOBILENET = {"momentum": 0.997, "epsilon": 1e-3}
# SegNet's encoder/decoder BatchNorm: Keras' defaults (our choice; SegNet itself replaces the
# running statistics by statistics over the training set after training, BUILD_NOTES.md).
_BN_SEGNET = {"momentum": 0.99, "epsilon": 1e-3}

# One literal dict, no dispatch by substring.
BACKBONES = {spec.name: spec for spec in (
    # v1/v2: Caffe VGG-16 (no BatchNorm), DeepLab-LargeFOV form.
    BackboneSpec("vgg16", "vgg16", "build_vgg16", "caffe_bgr_mean", {}, "vgg_16"),
    # The baselines' VGG-16 forms (backbones/vgg16.py): FCN's 2x2 poolings at stride 32; the
    # dilated front-end of Yu & Koltun (pool4/pool5 removed, conv5 dilated 2) at stride 8;
    # SegNet's encoder (BatchNorm, argmax poolings) at stride 32.
    BackboneSpec("vgg16_fcn", "vgg16", "build_vgg16", "caffe_bgr_mean", {}, "vgg_16",
                 output_strides=(32,), kwargs={"pooling": "vgg"},
                 imagenet_family="vgg16"),
    BackboneSpec("vgg16_dilated", "vgg16", "build_vgg16", "caffe_bgr_mean", {}, "vgg_16",
                 output_strides=(8,), kwargs={"pooling": "vgg"},
                 imagenet_family="vgg16"),
    BackboneSpec("vgg16_segnet", "vgg16", "build_vgg16", "caffe_bgr_mean", _BN_SEGNET,
                 "vgg_16", output_strides=(32,),
                 kwargs={"pooling": "argmax", "batch_norm": True}, imagenet_family="vgg16"),
    # v2: the original ResNet (7x7 stem), as in the v2 paper's Caffe model.
    BackboneSpec("resnet50", "resnet", "build_resnet_v1", "imagenet_mean", _BN_RESNET,
                 "resnet_v1_50", kwargs={"depth": 50, "beta": False}),
    BackboneSpec("resnet101", "resnet", "build_resnet_v1", "imagenet_mean", _BN_RESNET,
                 "resnet_v1_101", kwargs={"depth": 101, "beta": False}),
    # v3/v3+: the official "beta" variant (stem of three 3x3 convs). Its official
    # preprocessing is [-1, 1] (feature_extractor._PREPROCESS_FN['resnet_v1_101_beta']).
    BackboneSpec("resnet50_beta", "resnet", "build_resnet_v1", "minus_one_to_one", _BN_RESNET,
                 "resnet_v1_50", kwargs={"depth": 50, "beta": True}),
    BackboneSpec("resnet101_beta", "resnet", "build_resnet_v1", "minus_one_to_one", _BN_RESNET,
                 "resnet_v1_101", kwargs={"depth": 101, "beta": True}),
    BackboneSpec("xception65", "xception", "build_xception65", "minus_one_to_one", _BN_XCEPTION,
                 "xception_65"),
    BackboneSpec("mobilenetv2", "mobilenet_v2", "build_mobilenet_v2", "minus_one_to_one",
                 _BN_MOBILENET, "MobilenetV2", kwargs={"depth_multiplier": 1.0}),
    BackboneSpec("mobilenetv2_dm05", "mobilenet_v2", "build_mobilenet_v2", "minus_one_to_one",
                 _BN_MOBILENET, "MobilenetV2", kwargs={"depth_multiplier": 0.5}),
)}


def get_backbone(name) -> BackboneSpec:
    if name not in BACKBONES:
        raise ValueError(f"backbone={name!r} is unknown; allowed: {sorted(BACKBONES)}")
    return BACKBONES[name]

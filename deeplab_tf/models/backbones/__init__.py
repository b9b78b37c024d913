"""Backbone registry: every backbone described once.

Contract for a backbone builder (one function per family, in its own module):

    build(x, *, output_stride, bn, width_multiplier=1.0, **kwargs) -> dict

    x: the preprocessed image tensor [B, H, W, 3] (Preprocess already applied by the caller).
    output_stride: 8, 16 or 32. Strides past that are replaced by atrous convolution: once the
      target stride is reached, later strides become 1 and the dilation rate multiplies by each
      skipped stride (the slim rule the official code uses).
    bn: {"momentum": float, "epsilon": float, "scale": bool} (BackboneSpec.bn unless
      overridden).
    scope: the official TF1 scope root layers are named under (BackboneSpec.official_scope).
    decoder_end_point: the official stride-4 end point (BackboneSpec.decoder_end_point), for
      the backbones that have one.
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
    """Everything known about one backbone, written once: the builders (builder.py, the
    backbone modules) and both weight readers (weights/official.py, weights/imagenet.py)
    read it from here."""
    name: str
    module: str                  # deeplab_tf.models.backbones.<module>
    function: str                # builder function in that module
    preprocessing: str           # a layers.PREPROCESSING_MODES entry
    bn: dict                     # official BatchNorm defaults {"momentum", "epsilon", "scale"}
    official_scope: str          # TF1 scope root, e.g. "resnet_v1_101", "xception_65"
    output_strides: Tuple[int, ...] = OUTPUT_STRIDES
    kwargs: dict = dataclasses.field(default_factory=dict)  # fixed builder arguments
    # The official stride-4 end point the v3+ decoder reads, relative to official_scope
    # (research/deeplab/core/feature_extractor.py networks_to_feature_maps); "" = none.
    decoder_end_point: str = ""
    # Official TF1 files (model zoo, ImageNet checkpoints) exist under official_scope:
    # official_family is the name weights/architecture.py gives such files (presets
    # deeplabv3_<family>, deeplabv3plus_<family>); "" = no TF1 files are read for it.
    official_family: str = ""
    # What an ImageNet classification checkpoint holds under official_scope besides the
    # feature extractor (skipped when a backbone starts from it).
    classifier_scopes: Tuple[str, ...] = ()
    # The TF1 ImageNet checkpoint of this exact backbone: a weights/download.OFFICIAL_FILES
    # name (--init=official:NAME); "" = none published.
    imagenet_checkpoint: str = ""
    # The Keras ImageNet file family that fits (weights/imagenet.py); "" = `name`.
    imagenet_family: str = ""
    # keras.applications file names in ~/.keras/models, with the top first
    # (keras/src/applications/*.py); () = no Keras file fits.
    keras_imagenet_files: Tuple[str, ...] = ()

    @property
    def build(self) -> Callable:
        fn = getattr(importlib.import_module(f"deeplab_tf.models.backbones.{self.module}"),
                     self.function)
        fixed = {"scope": self.official_scope, **self.kwargs}
        if self.decoder_end_point:
            fixed["decoder_end_point"] = self.decoder_end_point
        return lambda x, **kw: fn(x, **{**fixed, **kw})


# BatchNorm defaults (Keras momentum = TF1 decay), checked against the official code:
# - ResNet: research/deeplab/core/feature_extractor.py extract_features passes
#   batch_norm_decay=0.95, batch_norm_epsilon=1e-5 to resnet_v1_beta.resnet_arg_scope
#   (whose batch_norm_scale defaults to True).
# - Xception: the same function passes batch_norm_decay=0.9997, batch_norm_epsilon=1e-3
#   (xception_arg_scope, batch_norm_scale=True).
# - MobileNetV2: mobilenet_v2.training_scope is called without bn_decay, so its default
#   0.997 applies (nets/mobilenet/mobilenet.py training_scope), with slim's default
#   epsilon 1e-3; V2_DEF's defaults set scale=True on slim.batch_norm.
# (The DeepLab head's own BatchNorm, in model.py, is decay 0.9997, epsilon 1e-5, scale True:
# HEAD_BN in deeplab_v3.py.)
_BN_RESNET = {"momentum": 0.95, "epsilon": 1e-5, "scale": True}
_BN_XCEPTION = {"momentum": 0.9997, "epsilon": 1e-3, "scale": True}
_BN_MOBILENET = {"momentum": 0.997, "epsilon": 1e-3, "scale": True}
# SegNet's encoder/decoder BatchNorm: Keras' defaults (our choice; SegNet itself replaces the
# running statistics by statistics over the training set after training, BUILD_NOTES.md).
_BN_SEGNET = {"momentum": 0.99, "epsilon": 1e-3, "scale": True}

# keras.applications' VGG16 and MobileNetV2 (alpha 1.0) files.
_KERAS_VGG16 = ("vgg16_weights_tf_dim_ordering_tf_kernels.h5",
                "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5")
_KERAS_MOBILENETV2 = ("mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224.h5",
                      "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5")
# The classifier of slim's ImageNet checkpoints: a 1x1 conv "logits" (nets/resnet_v1.py;
# research/deeplab/core/xception.py), or "Logits/Conv2d_1c_1x1" plus MobileNetV2's final 1x1
# conv to 1280 channels "Conv_1" (nets/mobilenet/mobilenet_v2.py V2_DEF), which DeepLab never
# builds: its feature extractor stops at layer_18 = expanded_conv_16.
_CLASSIFIER_RESNET = _CLASSIFIER_XCEPTION = ("logits",)
_CLASSIFIER_MOBILENETV2 = ("Logits", "Conv_1")
# Decoder end points (feature_extractor.networks_to_feature_maps, DECODER_END_POINTS).
_END_POINT_RESNET = "block1/unit_2/bottleneck_v1/conv3"
_END_POINT_XCEPTION = "entry_flow/block2/unit_1/xception_module/separable_conv2_pointwise"
_END_POINT_MOBILENETV2 = "layer_4/depthwise_output"

# One literal dict, no dispatch by substring.
BACKBONES = {spec.name: spec for spec in (
    # v1/v2: Caffe VGG-16 (no BatchNorm), DeepLab-LargeFOV form.
    BackboneSpec("vgg16", "vgg16", "build_vgg16", "caffe_bgr_mean", {}, "vgg_16",
                 keras_imagenet_files=_KERAS_VGG16),
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
    # v2: the original ResNet (7x7 stem), as in the v2 paper's Caffe model; slim's ImageNet
    # checkpoints (research/slim/README.md) have this stem.
    BackboneSpec("resnet50", "resnet", "build_resnet_v1", "imagenet_mean", _BN_RESNET,
                 "resnet_v1_50", kwargs={"depth": 50, "beta": False},
                 decoder_end_point=_END_POINT_RESNET, official_family="resnet50",
                 classifier_scopes=_CLASSIFIER_RESNET, imagenet_checkpoint="resnet_v1_50"),
    BackboneSpec("resnet101", "resnet", "build_resnet_v1", "imagenet_mean", _BN_RESNET,
                 "resnet_v1_101", kwargs={"depth": 101, "beta": False},
                 decoder_end_point=_END_POINT_RESNET, official_family="resnet101",
                 classifier_scopes=_CLASSIFIER_RESNET, imagenet_checkpoint="resnet_v1_101"),
    # v3/v3+: the official "beta" variant (stem of three 3x3 convs). Its official
    # preprocessing is [-1, 1] (feature_extractor._PREPROCESS_FN['resnet_v1_101_beta']); it
    # shares the scope root of the original (resnet_v1_beta.py), only the stem differs.
    BackboneSpec("resnet50_beta", "resnet", "build_resnet_v1", "minus_one_to_one", _BN_RESNET,
                 "resnet_v1_50", kwargs={"depth": 50, "beta": True},
                 decoder_end_point=_END_POINT_RESNET, official_family="resnet50",
                 classifier_scopes=_CLASSIFIER_RESNET,
                 imagenet_checkpoint="resnet_v1_50_beta"),
    BackboneSpec("resnet101_beta", "resnet", "build_resnet_v1", "minus_one_to_one", _BN_RESNET,
                 "resnet_v1_101", kwargs={"depth": 101, "beta": True},
                 decoder_end_point=_END_POINT_RESNET, official_family="resnet101",
                 classifier_scopes=_CLASSIFIER_RESNET,
                 imagenet_checkpoint="resnet_v1_101_beta"),
    BackboneSpec("xception65", "xception", "build_xception65", "minus_one_to_one", _BN_XCEPTION,
                 "xception_65", decoder_end_point=_END_POINT_XCEPTION,
                 official_family="xception65", classifier_scopes=_CLASSIFIER_XCEPTION,
                 imagenet_checkpoint="xception_65"),
    BackboneSpec("mobilenetv2", "mobilenet_v2", "build_mobilenet_v2", "minus_one_to_one",
                 _BN_MOBILENET, "MobilenetV2", kwargs={"depth_multiplier": 1.0},
                 decoder_end_point=_END_POINT_MOBILENETV2, official_family="mobilenetv2",
                 classifier_scopes=_CLASSIFIER_MOBILENETV2,
                 imagenet_checkpoint="mobilenet_v2_1.0_224",
                 keras_imagenet_files=_KERAS_MOBILENETV2),
    BackboneSpec("mobilenetv2_dm05", "mobilenet_v2", "build_mobilenet_v2", "minus_one_to_one",
                 _BN_MOBILENET, "MobilenetV2", kwargs={"depth_multiplier": 0.5},
                 decoder_end_point=_END_POINT_MOBILENETV2, official_family="mobilenetv2",
                 classifier_scopes=_CLASSIFIER_MOBILENETV2),
)}


def official_families():
    """{official TF1 scope root: family} for the backbones official files are read for,
    e.g. {"MobilenetV2": "mobilenetv2", "resnet_v1_101": "resnet101", ...}."""
    return {spec.official_scope: spec.official_family for spec in BACKBONES.values()
            if spec.official_family}


def classifier_scopes():
    """{official TF1 scope root: sub-scopes of the ImageNet classifier} (see BackboneSpec)."""
    return {spec.official_scope: spec.classifier_scopes for spec in BACKBONES.values()
            if spec.official_family}


def keras_imagenet_files():
    """{Keras ImageNet family: keras.applications file names} (weights/imagenet.py)."""
    return {spec.name: spec.keras_imagenet_files for spec in BACKBONES.values()
            if spec.keras_imagenet_files}


def get_backbone(name) -> BackboneSpec:
    if name not in BACKBONES:
        raise ValueError(f"backbone={name!r} is unknown; allowed: {sorted(BACKBONES)}")
    return BACKBONES[name]

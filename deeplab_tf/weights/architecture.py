"""What model an official file describes: read from the file, never assumed.

- backbone family: the top-level scope (MobilenetV2, xception_65, resnet_v1_101, ...);
- MobileNetV2 depth multiplier: the multiplier whose official channel plan
  (backbones/mobilenet_v2.channel_plan) reproduces every width in the file;
- output stride: the product of the backbone's strides in the file's op options (TFLite);
  the dilation rates must then follow the slim atrous rule our backbones implement;
- number of classes: the output width of logits/semantic;
- input size: the TFLite input tensor's shape;
- decoder (v3+): any decoder/ scope.
"""
import dataclasses
from typing import Optional, Tuple

from deeplab_tf.models.backbones import mobilenet_v2 as mnv2
from deeplab_tf.weights.official import BACKBONE_SCOPES, OfficialWeightsError, backbone_of

LOGITS = "logits/semantic/weights"


@dataclasses.dataclass(frozen=True)
class Architecture:
    backbone: str                         # our backbone family ("mobilenetv2", "xception65")
    preset: str                           # the preset that holds these weights
    num_classes: int
    output_stride: Optional[int]          # None when the file does not say (checkpoints)
    input_size: Optional[Tuple[int, int]]
    depth_multiplier: Optional[float] = None
    decoder: bool = False
    overrides: dict = dataclasses.field(default_factory=dict)


def _mobilenet_multiplier(weights):
    t = weights.tensors
    try:
        stem = t[f"{mnv2.SCOPE}/Conv/weights"].shape[-1]
        last = t[f"{mnv2.block_scope(len(mnv2.BLOCKS) - 1)}/project/weights"].shape[-1]
    except KeyError as error:
        raise OfficialWeightsError(f"{weights.source}: MobileNetV2 weights lack {error}") from None
    found = []
    for multiplier in dict.fromkeys((last / mnv2.BLOCKS[-1][1], stem / mnv2.STEM_CHANNELS)):
        plan_stem, plan = mnv2.channel_plan(multiplier)
        file_plan = []
        for index in range(len(plan)):
            scope = mnv2.block_scope(index)
            expand = t.get(f"{scope}/expand/weights")
            project = t.get(f"{scope}/project/weights")
            file_plan.append((None if expand is None else expand.shape[-1],
                              None if project is None else project.shape[-1]))
        if plan_stem == stem and file_plan == [(e, o) for e, o, _ in plan]:
            return multiplier
        found = file_plan
    raise OfficialWeightsError(
        f"{weights.source}: MobileNetV2 widths (stem {stem}, blocks (expand, out) {found}) match "
        "no depth multiplier of the official channel rule")


def _output_stride(weights, scope_root):
    """Output stride from TFLite op strides; checks the rates follow the slim atrous rule."""
    layers = sorted((info.order, scope, info) for scope, info in weights.layers.items()
                    if scope.startswith(scope_root + "/"))
    if not layers:
        return None
    stride = 1
    for _, _, info in layers:
        stride *= info.stride[0]
    if scope_root == mnv2.SCOPE:
        expected = mnv2.atrous_schedule(stride)
        got = [weights.layers[f"{mnv2.SCOPE}/Conv"].rate[0]] + [
            weights.layers[f"{mnv2.block_scope(i)}/depthwise"].rate[0]
            for i in range(len(mnv2.BLOCKS))]
        if got != [rate for _, rate in expected]:
            raise OfficialWeightsError(
                f"{weights.source}: dilation rates {got} do not follow the slim atrous rule for "
                f"output stride {stride} (expected {[r for _, r in expected]})")
    return stride


def _expected_activation(scope, found):
    if scope.startswith(mnv2.SCOPE + "/"):  # ReLU6, linear bottleneck projections
        return None if scope.endswith("/project") else "relu6"
    if scope == "logits/semantic":
        return None
    if scope in ("image_pooling", "concat_projection") or scope.startswith("aspp"):
        return "relu"  # the DeepLab head (model.py) uses ReLU
    return found  # other families: not checked here


def check_graph(weights):
    """Checks what our models hard-wire against a TFLite file's ops: bilinear resizes with
    align_corners=True and half_pixel_centers=False, the head's branch order
    [image_pooling, aspp0, aspp1, ...], "SAME" padding, ReLU6 in MobileNetV2 (linear project
    convs) and ReLU in the head. A file built otherwise would load but compute something else.
    """
    problems = []
    flags = set(weights.info.get("resize_align_corners", ()))
    if flags - {(True, False)}:
        problems.append(f"bilinear resizes with (align_corners, half_pixel_centers) in "
                        f"{sorted(flags)}; ours use (True, False)")
    for sources in weights.info.get("concats", ()):
        branches = [s for s in sources if s == "image_pooling" or s.startswith("aspp")]
        if branches and branches != sorted(branches, key=lambda s: (s != "image_pooling", s)):
            problems.append(f"head branches concatenated as {sources}; ours are image_pooling, "
                            "aspp0, aspp1, ...")
    for scope, info in weights.layers.items():
        if info.padding not in (None, "same"):
            problems.append(f"{scope} uses {info.padding} padding")
        expected = _expected_activation(scope, info.activation)
        if info.activation != expected:
            problems.append(f"{scope} has activation {info.activation}, ours {expected}")
    if problems:
        raise OfficialWeightsError(f"{weights.source}: the graph differs from our models: "
                                   + "; ".join(problems[:8]))


def infer_architecture(weights):
    """Architecture of official weights (OfficialWeights from a reader).

    Raises:
      OfficialWeightsError when the file has no logits layer or an unknown layout.
    """
    backbone = backbone_of(weights)
    check_graph(weights)
    if LOGITS not in weights.tensors:
        raise OfficialWeightsError(f"{weights.source}: no {LOGITS!r} tensor, so the number of "
                                   "classes cannot be read")
    num_classes = int(weights.tensors[LOGITS].shape[-1])
    decoder = any(name.startswith("decoder/") for name in weights.tensors)
    shape = weights.info.get("input_shape")
    input_size = (int(shape[1]), int(shape[2])) if shape and len(shape) == 4 else None
    scope_root = {family: root for root, family in BACKBONE_SCOPES.items()}[backbone]
    output_stride = _output_stride(weights, scope_root)
    depth_multiplier, overrides = None, {}
    if backbone == "mobilenetv2":
        depth_multiplier = _mobilenet_multiplier(weights)
        if decoder:
            preset = "deeplabv3plus_mobilenetv2"
        elif depth_multiplier == 0.5:
            preset = "deeplabv3_mobilenetv2_dm05"
        else:
            preset = "deeplabv3_mobilenetv2"
        if depth_multiplier not in (0.5, 1.0):
            # The head scales with width_multiplier too, so only the presets' multipliers fit.
            raise OfficialWeightsError(
                f"{weights.source}: MobileNetV2 depth multiplier {depth_multiplier} read from "
                "the file has no preset (presets exist for 0.5 and 1.0)")
    else:
        preset = f"deeplabv3plus_{backbone}" if decoder else f"deeplabv3_{backbone}"
    return Architecture(backbone=backbone, preset=preset, num_classes=num_classes,
                        output_stride=output_stride, input_size=input_size,
                        depth_multiplier=depth_multiplier, decoder=decoder, overrides=overrides)

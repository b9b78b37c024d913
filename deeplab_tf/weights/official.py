"""Official DeepLab weights -> our Keras layers: one name map, strict loading.

Our layers are named after the official TF1 scopes ("/" -> ".", deeplab_tf.models.naming), so
the map from official variable names to Keras variables is a rule per layer type (slim's
variable names, research/slim and research/deeplab):

  Conv2D             <scope>/weights [kh, kw, in, out], <scope>/biases
  DepthwiseConv2D    <scope>/depthwise_weights [kh, kw, in, multiplier]
  SeparableConv2D    <scope>/depthwise_weights, <scope>/pointwise_weights, <scope>/biases
  Dense              <scope>/weights [in, out], <scope>/biases
  BatchNormalization <scope>/{gamma, beta, moving_mean, moving_variance} (scope ends in
                     /BatchNorm)

It covers every family of the model zoo alike: MobilenetV2/Conv,
MobilenetV2/expanded_conv_N/{expand,depthwise,project}, xception_65/entry_flow/block1/unit_1/
xception_module/separable_conv1_depthwise, resnet_v1_101/block3/unit_7/bottleneck_v1/conv2,
and the heads image_pooling, aspp0..3, concat_projection, decoder/..., logits/semantic.

Folded sources (the official TFLite files) carry BatchNorm folded into the convolution: a
"<scope>/biases" per convolution. They load faithfully into the un-folded model: the kernel is
the folded kernel and the BatchNorm after it becomes the identity plus the folded bias
(gamma = 1, moving_mean = 0, moving_variance = 1 - epsilon, beta = bias), so
BN(conv(x)) = conv_folded(x) + bias exactly up to float rounding.

Loading is all or nothing: every missing, extra or mis-shaped tensor is listed in one
OfficialWeightsError before any variable is assigned.
"""
import dataclasses
import re
from typing import Dict, Optional, Tuple

import keras
import numpy as np

from deeplab_tf.models import backbones
from deeplab_tf.models.naming import official_scope

# Official top-level backbone scopes -> our family name, and the ImageNet classifier inside
# each scope: facts of the backbones, read from their BackboneSpec (models/backbones).
BACKBONE_SCOPES = backbones.official_families()
CLASSIFIER_SCOPES = backbones.classifier_scopes()
# The DeepLab head's scopes (research/deeplab/model.py).
HEAD_SCOPES = ("image_pooling", "aspp0", "aspp1", "aspp2", "aspp3", "concat_projection",
               "decoder", "logits")
# Checkpoint entries that are not model weights (optimizer slots, counters, EMA copies).
# Quantization-aware checkpoints (the zoo's *_8bit tarballs) also hold fake-quant ranges.
IGNORED = re.compile(r"(^global_step$)|(/(Momentum|ExponentialMovingAverage|Adam(_1)?|RMSProp"
                     r"(_1)?)$)|(^beta[12]_power$)|(_quant/(min|max)$)")
_BN_STATS = ("gamma", "beta", "moving_mean", "moving_variance")


class OfficialWeightsError(ValueError):
    """Official weights do not fit (file unreadable, tensors missing, extra or mis-shaped)."""


@dataclasses.dataclass(frozen=True)
class LayerInfo:
    """What a TFLite op says about one layer (checkpoints have no such information)."""
    kind: str                      # "conv", "depthwise" or "dense"
    stride: Tuple[int, int]
    rate: Tuple[int, int]
    padding: Optional[str]         # "same" / "valid"
    activation: Optional[str]      # fused activation: None, "relu", "relu6"
    order: int = 0                 # op index in the file


@dataclasses.dataclass
class OfficialWeights:
    """Weights under official TF1 names, in TF layouts (numpy float32)."""
    tensors: Dict[str, np.ndarray]
    folded: bool                   # True: BatchNorm folded into "<scope>/biases"
    layers: Dict[str, LayerInfo] = dataclasses.field(default_factory=dict)
    info: dict = dataclasses.field(default_factory=dict)

    @property
    def source(self):
        return self.info.get("source", "<official weights>")


def weighted_layers(model):
    """All layers holding variables, nested models flattened, in model order."""
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            yield from weighted_layers(layer)
        elif layer.weights:
            yield layer


def _targets(layer, folded):
    """(attribute, official name or None, constant or None) for each variable of `layer`."""
    scope = official_scope(layer.name)
    if isinstance(layer, keras.layers.BatchNormalization):
        attrs = [a for a in _BN_STATS if getattr(layer, a, None) is not None]
        if not folded:
            return [(a, f"{scope}/{a}", None) for a in attrs]
        if not scope.endswith("/BatchNorm"):
            raise OfficialWeightsError(f"BatchNorm layer {layer.name!r} is not named "
                                       "'<conv scope>.BatchNorm'; cannot place a folded bias")
        parent = scope[:-len("/BatchNorm")]
        constants = {"gamma": 1.0, "moving_mean": 0.0, "moving_variance": 1.0 - layer.epsilon}
        return [(a, f"{parent}/biases", None) if a == "beta" else (a, None, constants[a])
                for a in attrs]
    if isinstance(layer, keras.layers.DepthwiseConv2D):
        targets = [("kernel", f"{scope}/depthwise_weights", None)]
    elif isinstance(layer, keras.layers.SeparableConv2D):
        targets = [("depthwise_kernel", f"{scope}/depthwise_weights", None),
                   ("pointwise_kernel", f"{scope}/pointwise_weights", None)]
    elif isinstance(layer, (keras.layers.Conv2D, keras.layers.Dense)):
        targets = [("kernel", f"{scope}/weights", None)]
    else:
        raise OfficialWeightsError(
            f"layer {layer.name!r} ({type(layer).__name__}) has weights but no official name "
            "rule (Conv2D, DepthwiseConv2D, SeparableConv2D, Dense, BatchNormalization)")
    if getattr(layer, "use_bias", False):
        targets.append(("bias", f"{scope}/biases", None))
    return targets


def _listing(title, items, limit=12):
    items = sorted(items)
    more = f", ... ({len(items) - limit} more)" if len(items) > limit else ""
    return f"{title} ({len(items)}): " + ", ".join(items[:limit]) + more


def _in_scopes(name, scopes):
    return scopes is None or any(name == s or name.startswith(s + "/") for s in scopes)


def load_official_weights(model, weights, scopes=None):
    """Assigns official weights to `model`; all or nothing.

    Args:
      model: a keras.Model whose layers are named after the official scopes.
      weights: OfficialWeights from read_tflite / read_checkpoint.
      scopes: optional top-level official scopes to load (e.g. ["MobilenetV2"] to start
        from an official backbone, or every scope but "logits" to train other classes);
        layers and tensors outside them are left alone. None: everything, strictly.
    Returns:
      the number of variables assigned.
    Raises:
      OfficialWeightsError listing every missing, extra and mis-shaped tensor.
    """
    plan, used, missing, mismatched = [], set(), [], []
    for layer in weighted_layers(model):
        if not _in_scopes(official_scope(layer.name), scopes):
            continue
        for attr, name, constant in _targets(layer, weights.folded):
            variable = getattr(layer, attr)
            shape = tuple(variable.shape)
            if name is None:
                plan.append((variable, np.full(shape, constant, np.float32)))
                continue
            used.add(name)
            if name not in weights.tensors:
                missing.append(f"{name} {list(shape)} (layer {layer.name})")
                continue
            value = np.asarray(weights.tensors[name], np.float32)
            if value.shape != shape:
                mismatched.append(f"{name}: file {list(value.shape)}, model {list(shape)}")
                continue
            plan.append((variable, value))
    extra = [n for n in weights.tensors
             if n not in used and not IGNORED.search(n) and _in_scopes(n, scopes)]
    if missing or extra or mismatched:
        parts = [_listing(t, i) for t, i in (("missing from the file", missing),
                                            ("extra in the file", extra),
                                            ("mis-shaped", mismatched)) if i]
        raise OfficialWeightsError(
            f"{weights.source} does not fit model {model.name!r}: " + "; ".join(parts))
    for variable, value in plan:
        variable.assign(value)
    return len(plan)


def official_tensors(model):
    """Our model's weights under official TF1 names (BatchNorm un-folded), for checkpoints.

    Returns:
      {official name: numpy array in TF layout}.
    """
    tensors = {}
    for layer in weighted_layers(model):
        for attr, name, _ in _targets(layer, folded=False):
            tensors[name] = np.asarray(keras.ops.convert_to_numpy(getattr(layer, attr)))
    return tensors


def top_level_scopes(weights):
    return {name.split("/", 1)[0] for name in weights.tensors}


def checkpoint_kind(weights):
    """"deeplab" (a head scope: a whole model zoo model), "imagenet" (a backbone scope and no
    head scope: an ImageNet classification checkpoint) or None (neither)."""
    roots = top_level_scopes(weights)
    if roots & set(HEAD_SCOPES):
        return "deeplab"
    if roots & set(BACKBONE_SCOPES):
        return "imagenet"
    return None


def _resnet_stem_hint(model, weights, scope):
    """Why a ResNet stem does not fit: the slim originals (resnet_v1_{50,101}_2016_08_28) have
    one 7x7 "conv1", DeepLab's beta variants three 3x3 "conv1_1".."conv1_3" under the same
    scope (research/deeplab/core/resnet_v1_beta.py), so only the stem tells them apart."""
    names = {official_scope(layer.name) for layer in weighted_layers(model)}
    file_beta = f"{scope}/conv1_1/weights" in weights.tensors
    file_original = f"{scope}/conv1/weights" in weights.tensors
    if f"{scope}/conv1_1" in names and file_original and not file_beta:
        return (f"the file has the original 7x7 stem ({scope}/conv1, slim's ImageNet "
                f"checkpoint), the model the beta stem ({scope}/conv1_1..conv1_3): use the "
                f"{scope}_beta checkpoint, or the non-beta backbone")
    if f"{scope}/conv1" in names and file_beta and not file_original:
        return (f"the file has the beta stem ({scope}/conv1_1..conv1_3), the model the "
                f"original 7x7 stem ({scope}/conv1): use slim's {scope} checkpoint, or the "
                "beta backbone")
    return ""


def load_imagenet_backbone(model, weights, scope):
    """Loads the backbone of an ImageNet classification checkpoint; all or nothing inside it.

    The classifier (CLASSIFIER_SCOPES) is ignored, as are optimizer slots, EMA copies and
    global_step (IGNORED; read_checkpoint already drops them). Layers outside `scope` (the
    DeepLab head) are left alone.

    Args:
      model: a keras.Model named after the official scopes.
      weights: OfficialWeights of an ImageNet checkpoint (checkpoint_kind == "imagenet").
      scope: the model's backbone scope, e.g. "resnet_v1_101" (BackboneSpec.official_scope).
    Returns:
      (names of the model layers loaded, sorted names of the classifier tensors ignored).
    Raises:
      OfficialWeightsError when the file holds another backbone scope, or when anything
      inside the scope is missing, extra or mis-shaped (listed).
    """
    found = sorted(top_level_scopes(weights) & set(BACKBONE_SCOPES))
    if found != [scope]:
        families = sorted(b.name for b in backbones.BACKBONES.values()
                          if b.official_scope in found)
        names = [n for n in weights.tensors if n.split("/", 1)[0] in found]
        raise OfficialWeightsError(
            f"{weights.source} is an ImageNet checkpoint of backbone scope "
            f"{', '.join(map(repr, found))} (backbone {', '.join(families)}), but model "
            f"{model.name!r} expects the scope {scope!r}: "
            + _listing("the file's tensors are under", {"/".join(n.split("/")[:2])
                                                         for n in names}, limit=8)
            + f" ({len(names)} tensors)")
    prefixes = tuple(f"{scope}/{c}/" for c in CLASSIFIER_SCOPES.get(scope, ()))
    classifier = sorted(n for n in weights.tensors if n.startswith(prefixes))
    backbone = OfficialWeights(
        tensors={n: v for n, v in weights.tensors.items() if not n.startswith(prefixes)},
        folded=weights.folded, layers=weights.layers, info=weights.info)
    try:
        load_official_weights(model, backbone, scopes=[scope])
    except OfficialWeightsError as error:
        hint = _resnet_stem_hint(model, weights, scope)
        if not hint:
            raise
        raise OfficialWeightsError(f"{error} ({hint})") from None
    loaded = [layer.name for layer in weighted_layers(model)
              if _in_scopes(official_scope(layer.name), [scope])]
    return loaded, classifier


def backbone_of(weights):
    """Our backbone family name from the scopes present, e.g. "mobilenetv2"."""
    roots = {name.split("/", 1)[0] for name in weights.tensors}
    found = [BACKBONE_SCOPES[r] for r in roots if r in BACKBONE_SCOPES]
    if len(found) != 1:
        raise OfficialWeightsError(
            f"{weights.source}: expected exactly one official backbone scope among "
            f"{sorted(BACKBONE_SCOPES)}, found top-level scopes {sorted(roots)[:10]}")
    return found[0]

"""Keras ImageNet weight files -> our backbones, where the architectures match.

    load_imagenet_weights(model, backbone, path=None) -> list of layers initialised

The files are the ones keras.applications downloads into ~/.keras/models (we never download:
pass --init=imagenet:PATH, or let Keras' cache hold the file). Supported:

  vgg16        keras VGG16 (Caffe weights, BGR input with the Caffe mean: exactly our
               "caffe_bgr_mean" preprocessing). conv1_1..conv5_3 copy over. fc6/fc7 of
               DeepLab-LargeFOV are made by decimating VGG's fc6/fc7 as DeepLab v1 did
               (arXiv 1412.7062, Sec. 4.1 / 3.1: fc6 7x7x512x4096 -> 3x3 taking every 3rd
               spatial tap, 4096 -> 1024 channels taking every 4th; fc7 likewise on both
               axes), when the file has the top (fc) layers. The baselines whose fc6 is
               VGG's full 7x7x4096 (FCN, the dilated front-end of Yu & Koltun) get fc1 and
               fc2 reshaped, undecimated, as FCN did (CVPR 2015, Sec. 3.1); SegNet (no fc
               layers) gets the 13 convs only, its BatchNorm layers keeping their
               initializer. The backbones "vgg16_fcn", "vgg16_dilated" and "vgg16_segnet"
               read this file (their imagenet_family).
  mobilenetv2  keras MobileNetV2(alpha=1.0): same layers as the official slim MobilenetV2
               (Conv, expanded_conv, expanded_conv_1..16); Keras pads stride-2 convs
               asymmetrically where slim uses SAME, which changes border pixels only.

Not matched (a clear error): Keras' ResNet50/101 are Caffe-style (stride in the first 1x1 of a
block, biases before BatchNorm) unlike slim resnet_v1 / resnet_v1_beta; Keras' Xception is
the original, not the modified aligned Xception-65. Use --init=official:PATH for those.
"""
import os

import numpy as np

from deeplab_tf.models import backbones
from deeplab_tf.models.backbones import mobilenet_v2, vgg16
from deeplab_tf.models.naming import keras_name

# keras.applications file names in ~/.keras/models, per family (BackboneSpec
# .keras_imagenet_files).
KERAS_FILES = backbones.keras_imagenet_files()
# Convs per VGG-16 stage, and the scope roots our layers are named under (the backbones').
_VGG_BLOCKS = {stage: convs for stage, (convs, _) in enumerate(vgg16.STAGES, start=1)}
_VGG_SCOPE = backbones.BACKBONES["vgg16"].official_scope


class ImageNetWeightsError(ValueError):
    """No usable Keras ImageNet file for this backbone, or it does not fit."""


def find_weights_file(backbone, path=None):
    """The file to read: `path`, or the first Keras cache file for `backbone`."""
    if backbone not in KERAS_FILES:
        raise ImageNetWeightsError(
            f"no Keras ImageNet weights match backbone {backbone!r} (supported: "
            f"{sorted(KERAS_FILES)}); initialise it with --init=official:PATH instead")
    if path:
        if not os.path.isfile(path):
            raise ImageNetWeightsError(f"--init=imagenet:{path}: file not found")
        return path
    cache = os.path.join(os.environ.get("KERAS_HOME", os.path.expanduser("~/.keras")), "models")
    for name in KERAS_FILES[backbone]:
        candidate = os.path.join(cache, name)
        if os.path.isfile(candidate):
            return candidate
    raise ImageNetWeightsError(
        f"no Keras ImageNet file for {backbone!r} in {cache} (expected one of "
        f"{list(KERAS_FILES[backbone])}); pass --init=imagenet:PATH")


def read_layer_weights(backbone, path):
    """{Keras layer name: [arrays in get_weights() order]} of a Keras ImageNet weight file.

    The files keras.applications downloads are in the legacy HDF5 layout (one group per layer
    name, its "weight_names" in order): read by name with h5py, whatever the shapes, so a
    narrow file in the same layout (tests) reads too. Files saved by Keras 3's save_weights
    (.weights.h5) key variables by object path, not by layer name: those load into the
    keras.applications model first.
    """
    import h5py
    try:
        with h5py.File(path, "r") as f:
            group = f["model_weights"] if "model_weights" in f else f
            if "layer_names" in group.attrs:
                out = {}
                for raw in group.attrs["layer_names"]:
                    name = raw.decode() if isinstance(raw, bytes) else str(raw)
                    layer = group[name]
                    weight_names = [w.decode() if isinstance(w, bytes) else str(w)
                                    for w in layer.attrs.get("weight_names", [])]
                    if weight_names:
                        out[name] = [np.asarray(layer[w]) for w in weight_names]
                return out
    except OSError as error:
        raise ImageNetWeightsError(f"{path} is not an HDF5 weight file "
                                   f"({str(error).splitlines()[0]})") from None
    model = _keras_model(backbone, path)
    return {layer.name: layer.get_weights() for layer in model.layers if layer.weights}


def _keras_model(backbone, path):
    """keras.applications model holding the file's weights (with or without the top)."""
    import keras
    builder = {"vgg16": keras.applications.VGG16,
               "mobilenetv2": keras.applications.MobileNetV2}[backbone]
    errors = []
    for include_top in (True, False):
        kwargs = {"alpha": 1.0} if backbone == "mobilenetv2" else {}
        model = builder(weights=None, include_top=include_top, **kwargs)
        try:
            model.load_weights(path)
            return model
        except Exception as error:  # the other layout is tried next  # noqa: BLE001
            errors.append(f"include_top={include_top}: {str(error).splitlines()[0][:200]}")
    raise ImageNetWeightsError(f"{path} is not a Keras {backbone} weight file ({errors})")


def decimate_fc(kernel, bias, *, spatial=None, in_step=1, out_step=4):
    """DeepLab v1's fc subsampling. kernel [k*k*Cin, Cout] (Keras Dense after Flatten, NHWC
    order) or [Cin, Cout]; spatial=(k, taps): reshape to [k, k, Cin, Cout] and keep `taps`.
    Returns (conv kernel [kh, kw, Cin', Cout'], bias [Cout'])."""
    kernel = np.asarray(kernel)
    if spatial is not None:
        k, taps = spatial
        kernel = kernel.reshape(k, k, -1, kernel.shape[-1])[np.ix_(taps, taps)]
    else:
        kernel = kernel[None, None]
    return kernel[:, :, ::in_step, ::out_step], np.asarray(bias)[::out_step]


def _vgg_pairs(source, model_layers):
    for block, count in _VGG_BLOCKS.items():
        for i in range(1, count + 1):
            yield (keras_name(_VGG_SCOPE, f"conv{block}", f"conv{block}_{i}"),
                   source[f"block{block}_conv{i}"])
    if "fc1" in source and _full_fc6(model_layers):
        # FCN / Dilation: the fc layers as convs, nothing dropped (NHWC Flatten order).
        yield "fc6", list(decimate_fc(*source["fc1"], spatial=(7, list(range(7))), out_step=1))
        yield "fc7", list(decimate_fc(*source["fc2"], out_step=1))
    elif "fc1" in source:
        # 7x7 -> 3x3 by taking taps 0, 3, 6 (every 3rd), 4096 -> 1024 (every 4th).
        fc6 = list(decimate_fc(*source["fc1"], spatial=(7, [0, 3, 6]), out_step=4))
        fc7 = list(decimate_fc(*source["fc2"], in_step=4, out_step=4))
        # v1 has one fc6/fc7; each v2 ASPP branch (fc6_1, fc6_2, ...) starts from the same
        # decimated pair, as DeepLab v2's VGG-16 init model did.
        suffixes = [""] if "fc6" in model_layers else sorted(
            name[len("fc6"):] for name in model_layers if name.startswith("fc6_"))
        for suffix in suffixes:
            yield f"fc6{suffix}", fc6
            yield f"fc7{suffix}", fc7


def _full_fc6(model_layers):
    """True when the model's fc6 is a 7x7 conv (VGG's fc1 reshaped), not LargeFOV's 3x3."""
    fc6 = model_layers.get("fc6")
    return fc6 is not None and tuple(fc6.kernel_size) == (7, 7)


def _mobilenet_pairs(source):
    def block(keras_prefix, index):
        for part in ("expand", "depthwise", "project"):
            name = f"{keras_prefix}_{part}"
            if name in source:
                ours = keras_name(mobilenet_v2.block_scope(index), part)
                yield ours, source[name]
                yield keras_name(ours, "BatchNorm"), source[name + "_BN"]
    yield keras_name(mobilenet_v2.SCOPE, "Conv"), source["Conv1"]
    yield keras_name(mobilenet_v2.SCOPE, "Conv", "BatchNorm"), source["bn_Conv1"]
    # keras.applications names the blocks expanded_conv, block_1 .. block_16.
    yield from block("expanded_conv", 0)
    for i in range(1, len(mobilenet_v2.BLOCKS)):
        yield from block(f"block_{i}", i)


def load_imagenet_weights(model, backbone, path=None, log=print):
    """Copies Keras ImageNet weights into `model`'s backbone (by our official layer names).

    Args:
      backbone: our backbone name (model_info(...)["backbone"].name), "vgg16" or "mobilenetv2".
    Returns:
      names of the layers initialised.
    Raises:
      ImageNetWeightsError: unsupported backbone, missing file, or shapes that do not fit
        (e.g. a width multiplier != 1).
    """
    path = find_weights_file(backbone, path)
    source = read_layer_weights(backbone, path)
    ours = {layer.name: layer for layer in model._flatten_layers(include_self=False)}
    pairs = _vgg_pairs(source, ours) if backbone == "vgg16" else _mobilenet_pairs(source)
    plan, bad = [], []
    try:
        for name, values in pairs:
            layer = ours.get(name)
            if layer is None:
                bad.append(f"{name} (not in model {model.name})")
                continue
            shapes = [tuple(w.shape) for w in layer.weights]
            if shapes != [np.shape(v) for v in values]:
                bad.append(f"{name}: file {[np.shape(v) for v in values]}, model {shapes}")
                continue
            plan.append((layer, values))
    except KeyError as error:
        raise ImageNetWeightsError(f"{path} is not a Keras {backbone} weight file: it has no "
                                   f"layer {error}") from None
    if bad:
        raise ImageNetWeightsError(f"{path} does not fit model {model.name!r}: "
                                   + "; ".join(bad[:5]) + (" ..." if len(bad) > 5 else ""))
    for layer, values in plan:   # all or nothing: assigned only once everything fits
        layer.set_weights(values)
    log(f"initialised {len(plan)} layers from Keras ImageNet weights {path}")
    return [layer.name for layer, _ in plan]

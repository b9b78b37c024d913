"""build_model: a preset name (+ overrides) -> a DeepLab keras.Model.

    model = build_model("deeplabv3plus_xception65", num_classes=21, output_stride=16)
    logits = model(images)   # images [B, H, W, 3] float 0..255 -> logits [B, H, W, classes]

The model holds everything between pixels and logits: Preprocess (the backbone's official
preprocessing), the backbone at the requested output stride, the generation's head, and a
bilinear resize with align_corners=True of the logits to the input size (ResizeBilinear
[logits, image]), as the official code does (the FCN and SegNet heads already end at the
input size, where that resize is the identity). Any H, W work (odd like 513 or even like 512);
sizes of the form OS*k+1 align features exactly with the official models. The final layer is
float32 so logits stay float32 under a mixed-precision policy.

model_info(preset, num_classes=None, output_stride=None, **overrides) returns the resolved
configuration as a dict, for the training, weights and evaluation code:
    preset, generation, num_classes, output_stride,
    config            every preset key after overrides (atrous_rates already scaled to
                      output_stride)
    backbone          the BackboneSpec (name, preprocessing, bn, official_scope, ...)
    preprocessing     a layers.PREPROCESSING_MODES entry
    mean_pixel        the RGB pixel preprocessing maps to 0: pad images with it
    logits_layers     names of the layers whose weights depend on num_classes (the class
                      layers: v1 fc8, the four v2 branches, v3/v3+ logits.semantic), as the
                      generation's head module reports them (its logits_layer_names, which
                      the head also names these layers with; build_model checks that the
                      built head agrees): skipped when initialising from a checkpoint with
                      another number of classes, and the variables the last-layer gradient
                      multiplier applies to
    model_name        the keras.Model name (the preset name)
"""
import keras

from deeplab_tf.models import (deeplab_v1, deeplab_v2, deeplab_v3, deeplab_v3_plus, dilation,
                               fcn, segnet)
from deeplab_tf.models.backbones import OUTPUT_STRIDES, get_backbone
from deeplab_tf.models.layers import MEAN_PIXEL, Preprocess, ResizeBilinear
from deeplab_tf.models.presets import PRESETS

# "info" (presets.PresetInfo) records facts about the preset, not a setting: it never reaches
# the configuration.
_FIXED_KEYS = ("generation",)
# Keys passed to the backbone builder when a preset has them.
_BACKBONE_KEYS = ("multi_grid", "extra_blocks")


def _resolve(preset, num_classes, output_stride, overrides):
    if preset not in PRESETS:
        raise ValueError(f"preset={preset!r} is unknown; allowed: {sorted(PRESETS)}")
    config = {k: v for k, v in PRESETS[preset].items() if k != "info"}
    allowed = sorted(k for k in config if k not in _FIXED_KEYS + ("num_classes", "output_stride"))
    for key, value in overrides.items():
        if key not in allowed:
            raise ValueError(f"override {key}={value!r} is not a setting of preset {preset!r}; "
                             f"allowed overrides: {allowed}")
        config[key] = value
    if num_classes is not None:
        config["num_classes"] = num_classes
    if output_stride is not None:
        config["output_stride"] = output_stride
    n, os_ = config["num_classes"], config["output_stride"]
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"num_classes={n!r} must be an integer >= 1")
    if os_ not in OUTPUT_STRIDES:
        raise ValueError(f"output_stride={os_!r} is not supported; allowed: {OUTPUT_STRIDES}")
    spec = get_backbone(config["backbone"])
    if os_ not in spec.output_strides:
        raise ValueError(f"output_stride={os_!r} cannot be reached by backbone {spec.name!r}; "
                         f"allowed for it: {spec.output_strides}")
    wm = config["width_multiplier"]
    if not isinstance(wm, (int, float)) or wm <= 0:
        raise ValueError(f"width_multiplier={wm!r} must be a number > 0")
    if "atrous_rates" in config:
        ref = config["rates_output_stride"]
        # Rates scale with the feature resolution (v3 paper: doubled at OS8); at least 1.
        config["atrous_rates"] = tuple(max(1, round(r * ref / os_))
                                       for r in config["atrous_rates"])
    return config, spec


def model_info(preset, num_classes=None, output_stride=None, **overrides):
    """The resolved configuration of a preset (see the module docstring); builds nothing."""
    config, spec = _resolve(preset, num_classes, output_stride, overrides)
    return {
        "preset": preset, "generation": config["generation"],
        "num_classes": config["num_classes"], "output_stride": config["output_stride"],
        "config": config, "backbone": spec, "preprocessing": spec.preprocessing,
        "mean_pixel": MEAN_PIXEL[spec.preprocessing],
        "logits_layers": _head_module(config).logits_layer_names(config), "model_name": preset,
    }


_HEAD_MODULES = {"v1": deeplab_v1, "v2": deeplab_v2, "v3": deeplab_v3, "v3_cascade": deeplab_v3,
                 "v3+": deeplab_v3_plus, "fcn": fcn, "segnet": segnet, "dilation": dilation}


def _head_module(config):
    g = config["generation"]
    if g not in _HEAD_MODULES:
        raise ValueError(f"generation={g!r}; allowed: {sorted(_HEAD_MODULES)}")
    return _HEAD_MODULES[g]


def _head(config, endpoints):
    g, n = config["generation"], config["num_classes"]
    wm = config["width_multiplier"]
    if g == "v1":
        return deeplab_v1.largefov_head(
            endpoints, num_classes=n, atrous_rates=config["atrous_rates"],
            fc_depth=_scaled(config["fc_depth"], wm), dropout=config["dropout"])
    if g == "v2":
        return deeplab_v2.aspp_sum_head(
            endpoints, num_classes=n, atrous_rates=config["atrous_rates"],
            branch_form=config["branch_form"], fc_depth=_scaled(config.get("fc_depth", 1024), wm),
            dropout=config.get("dropout", 0.5))
    if g == "v3_cascade":
        return deeplab_v3.cascade_head(endpoints, num_classes=n)
    # The baselines (issue 17): FCN and SegNet return logits at the input size already (the
    # final resize is then the identity), the dilated front-end at stride 8.
    if g == "fcn":
        return fcn.fcn_head(endpoints, num_classes=n, skips=config["skips"],
                            skip_scales=config["skip_scales"],
                            fc_depth=_scaled(config["fc_depth"], wm), dropout=config["dropout"])
    if g == "segnet":
        return segnet.decoder_head(endpoints, num_classes=n, width_multiplier=wm,
                                   bn=get_backbone(config["backbone"]).bn)
    if g == "dilation":
        return dilation.front_end_head(endpoints, num_classes=n,
                                       atrous_rates=config["atrous_rates"],
                                       fc_depth=_scaled(config["fc_depth"], wm),
                                       dropout=config["dropout"],
                                       context_module=config["context_module"])
    common = dict(num_classes=n, atrous_rates=config["atrous_rates"],
                  aspp_depth=config["aspp_depth"], image_pooling=config["image_pooling"],
                  aspp_separable=config["aspp_separable"], dropout=config["dropout"],
                  width_multiplier=wm)
    if g == "v3":
        return deeplab_v3.aspp_head(endpoints, **common)
    if g == "v3+":
        return deeplab_v3_plus.decoder_head(
            endpoints, low_level_depth=config["low_level_depth"],
            decoder_depth=config["decoder_depth"],
            decoder_separable=config["decoder_separable"], **common)
    raise ValueError(f"generation={g!r}; allowed: {sorted(_HEAD_MODULES)}")


def _scaled(channels, width_multiplier):
    return max(1, int(round(channels * width_multiplier)))


def build_model(preset, num_classes=None, output_stride=None, *, batch_size=None,
                input_shape=(None, None), **overrides):
    """Builds the DeepLab model of a preset.

    Args:
      preset: a presets.PRESETS key (deeplab_tf.list_presets()).
      num_classes: defaults to the preset's (21, PASCAL VOC); must be >= 1.
      output_stride: 8, 16 or 32; defaults to the preset's.
      batch_size, input_shape: optional static input shape (summary.py builds [1, 513, 513, 3]
        to read layer shapes); by default [None, None, None, 3].
      **overrides: any preset key (e.g. width_multiplier=0.125, aspp_depth=16,
        atrous_rates=(6, 12, 18), multi_grid=(1, 2, 4), decoder_separable=True).
    Returns:
      keras.Model named `preset`: images [B, H, W, 3] float 0..255 -> logits float32
      [B, H, W, num_classes].
    Raises:
      ValueError naming the argument, its value and the allowed values.
    """
    config, spec = _resolve(preset, num_classes, output_stride, overrides)
    expected = _head_module(config).logits_layer_names(config)
    images = keras.Input(shape=(*input_shape, 3), batch_size=batch_size, name="images")
    x = Preprocess(spec.preprocessing, name="preprocess")(images)
    backbone_kwargs = {k: tuple(config[k]) if k == "multi_grid" else config[k]
                       for k in _BACKBONE_KEYS if k in config}
    endpoints = spec.build(x, output_stride=config["output_stride"], bn=spec.bn,
                           width_multiplier=config["width_multiplier"], **backbone_kwargs)
    logits, created = _head(config, endpoints)
    if created != expected:
        # model_info's list picks the layers skipped at initialisation and given the gradient
        # multiplier: a head naming its class layers otherwise would silently break both.
        raise RuntimeError(f"internal error: the {config['generation']} head of preset "
                           f"{preset!r} created the class layers {created}, but model_info "
                           f"reports logits_layers={expected}")
    logits = ResizeBilinear(name="logits_resize", dtype="float32")([logits, images])
    return keras.Model(images, logits, name=preset)

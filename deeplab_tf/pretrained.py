"""Models with official weights by name or path: deeplab_tf.build_model(preset, weights=...).

    model = deeplab_tf.build_model(weights="deeplabv3_mnv2_pascal_quant")    # whole model
    model = deeplab_tf.build_model("deeplabv3_resnet101", weights="resnet_v1_101_beta",
                                   num_classes=19)                        # ImageNet backbone

`weights` is a name of deeplab_tf.weights.download.OFFICIAL_FILES (fetched once into the cache
over https, its sha256 checked on every use) or the path of an official file: a .tflite, or a
TF1 checkpoint prefix, folder or tarball. A whole DeepLab model (a model zoo checkpoint or
TFLite file) decides the architecture: the preset, output stride, depth multiplier and number
of classes are read from it, and a preset or num_classes that does not fit the file is
refused. An ImageNet classification checkpoint initialises the backbone of the preset you name;
the head starts from its initializers.
"""
import os


def resolve(weights, sha256=None, cache=None):
    """A name or path -> a local path (a known name is downloaded once)."""
    from deeplab_tf.weights.download import OFFICIAL_FILES, fetch
    if os.path.exists(str(weights)):
        return str(weights)
    if weights in OFFICIAL_FILES:
        return str(fetch(weights, sha256=sha256, cache=cache))
    raise FileNotFoundError(f"weights={weights!r}: no such file, and not an official file "
                            f"name ({', '.join(sorted(OFFICIAL_FILES))})")


def read_official(path):
    """OfficialWeights of an official .tflite file or TF1 checkpoint (prefix/folder/tarball)."""
    if str(path).endswith(".tflite"):
        from deeplab_tf.weights.tflite_reader import read_tflite
        return read_tflite(path)
    from deeplab_tf.weights.checkpoint_reader import read_checkpoint
    return read_checkpoint(path)


def build_pretrained(preset, weights, *, num_classes=None, output_stride=None, sha256=None,
                     log=None, **overrides):
    """The model `weights` describes (or `preset` around an ImageNet backbone), loaded.

    Raises:
      FileNotFoundError: unknown name or path. OfficialWeightsError (a ValueError): the file
      does not fit the preset, num_classes or overrides asked for.
    """
    found = read_official(resolve(weights, sha256))
    return build_from_weights(preset, found, name=weights, num_classes=num_classes,
                              output_stride=output_stride, log=log, **overrides)


def build_from_weights(preset, found, *, name, num_classes=None, output_stride=None, log=None,
                       **overrides):
    """build_pretrained for OfficialWeights already read (`name` is how errors call them)."""
    from deeplab_tf.models.builder import build_model
    from deeplab_tf.weights import official
    from deeplab_tf.weights.architecture import infer_architecture
    weights = name
    if official.checkpoint_kind(found) == "imagenet":
        if preset is None:
            raise official.OfficialWeightsError(
                f"weights={weights!r} is an ImageNet checkpoint of a backbone: name the preset "
                "to build around it, e.g. build_model('deeplabv3_resnet101', weights=...)")
        from deeplab_tf.models.builder import model_info
        from deeplab_tf.training.initialization import _imagenet_backbone
        model = build_model(preset, num_classes=num_classes, output_stride=output_stride,
                            **overrides)
        info = model_info(preset, num_classes=num_classes, output_stride=output_stride,
                          **overrides)
        _imagenet_backbone(model, found, f"weights={weights}", info["backbone"].official_scope,
                           log or (lambda _: None))
        return model
    arch = infer_architecture(found)
    if num_classes is not None and num_classes != arch.num_classes:
        raise official.OfficialWeightsError(
            f"weights={weights!r} predicts {arch.num_classes} classes, not num_classes="
            f"{num_classes}; build without weights and initialise from it "
            "(train --init=official:...) to fine-tune on other classes")
    kwargs = {**arch.overrides, **overrides}
    model = build_model(preset or arch.preset, num_classes=arch.num_classes,
                        output_stride=output_stride or arch.output_stride, **kwargs)
    try:
        official.load_official_weights(model, found)
    except official.OfficialWeightsError as error:
        raise official.OfficialWeightsError(
            f"weights={weights!r} is a {arch.preset} model ({arch.num_classes} classes); it does "
            f"not fit preset {preset or arch.preset!r}: {error}") from None
    return model

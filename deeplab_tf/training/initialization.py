"""--init: where the weights of a new run come from.

  imagenet[:PATH]    Keras ImageNet weights for the backbone (deeplab_tf.weights.imagenet).
  official:PATH      an official TF1 checkpoint (prefix, folder, .tar.gz / .tgz) or an
  official:NAME      official .tflite file (deeplab_tf.weights.official); NAME is a key of
                     deeplab_tf.weights.download.OFFICIAL_FILES, fetched once into the cache
                     ($DEEPLAB_TF_CACHE; mirror $DEEPLAB_TF_MIRROR). Two kinds of file:
                     - a whole DeepLab model (model zoo; it holds head scopes such as aspp0,
                       logits): loaded strictly into a model of the same preset with the
                       file's number of classes, then copied over (a v3 file, which has no
                       decoder, starts a v3+ model: its decoder keeps its initializer);
                     - an ImageNet classification checkpoint (a backbone scope such as
                       resnet_v1_101, xception_65, MobilenetV2 and no head scope; the ones
                       the papers start from): only the backbone scope is loaded, strictly
                       (every tensor of it, nothing extra, same shapes); its classifier,
                       MobileNetV2's Conv_1, optimizer slots, EMA copies and global_step are
                       ignored, and the DeepLab head keeps its initializer.
  checkpoint:PATH    one of our runs: a model_dir / TF checkpoint prefix (its
                     model_signature.json names the architecture), a .keras or .weights.h5.

The last layer (the logits convs, model_info()["logits_layers"]) is skipped when the number of
classes differs or when initialize_last_layer is False (official train.py
initialize_last_layer / last_layers_contain_logits_only). Used only when a run starts; a
resumed run restores its own checkpoint instead. (The official train.py starts from an
ImageNet checkpoint the same way: slim restores the variables the model and the file share,
research/deeplab/utils/train_utils.py get_model_init_fn; here the share is checked to be the
whole backbone.)
"""
import os

import tensorflow as tf

from deeplab_tf.training.checkpoints import (ArchitectureMismatch, describe, read_signature,
                                             transfer_weights)

INIT_KINDS = ("imagenet", "official", "checkpoint")


def _exists(path):
    return os.path.exists(path) or tf.io.gfile.exists(path + ".index")


def _official_names():
    from deeplab_tf.weights.download import OFFICIAL_FILES
    return OFFICIAL_FILES


def parse_init(spec):
    """"kind[:path]" -> (kind, path); ("", "") when empty. Cheap: reads and downloads nothing.

    For official, path may also be an OFFICIAL_FILES name (an existing path wins).
    Raises:
      ValueError (unknown kind or official name, no path), FileNotFoundError (no such path).
    """
    if not spec:
        return "", ""
    kind, _, path = spec.partition(":")
    if kind not in INIT_KINDS:
        raise ValueError(f"--init={spec!r}: unknown kind {kind!r}; expected imagenet[:PATH], "
                         "official[:PATH|NAME] or checkpoint:PATH")
    # A bare "official" is the backbone's own official ImageNet checkpoint (BackboneSpec.
    # imagenet_checkpoint), resolved in initialize() where the backbone is known.
    if kind == "checkpoint" and not path:
        raise ValueError(f"--init={spec!r} needs a path ({kind}:PATH)")
    if path and not _exists(path):
        names = _official_names()
        if kind == "official" and path in names:
            return kind, path
        if kind == "official" and "/" not in path and os.sep not in path:
            raise ValueError(f"--init={spec!r}: {path!r} is neither an existing path nor a "
                             f"known official name; known names: {', '.join(sorted(names))}")
        raise FileNotFoundError(f"--init={spec!r}: {path} does not exist")
    return kind, path


def resolve_official(path, sha256=None):
    """An official:PATH|NAME argument -> a local path (a known NAME is fetched into the cache
    once and its digest checked on every use, against `sha256` when given;
    deeplab_tf.weights.download.fetch). Raises DownloadError when that fails."""
    if _exists(path) or path not in _official_names():
        return path
    from deeplab_tf.weights.download import fetch
    return str(fetch(path, sha256=sha256 or None))


def check_init_architecture(spec, model_config, num_classes):
    """Fails early when --init=checkpoint:PATH holds another preset (cheap: reads json only)."""
    kind, path = parse_init(spec)
    if kind != "checkpoint" or path.endswith((".keras", ".h5")):
        return
    found = read_signature(path if os.path.isdir(path) else os.path.dirname(path))
    if found is None:
        raise FileNotFoundError(f"--init={spec}: no model_signature.json beside the checkpoint "
                                "(is it a deeplab_tf training directory?)")
    if found["preset"] != model_config.preset or [list(o) for o in model_config.overrides] != \
            [list(o) for o in found["overrides"]]:
        raise ArchitectureMismatch(
            f"--init={spec}: that checkpoint is another architecture ({describe(found)}) than "
            f"--preset={model_config.preset} overrides={list(model_config.overrides)} "
            f"num_classes={num_classes}")


def initialize(model, spec, *, info, model_config, initialize_last_layer=True, log=print,
               sha256=None):
    """Applies --init to a freshly built model. Returns the names of the layers loaded.

    Raises the readers' errors (OfficialWeightsError, ImageNetWeightsError, DownloadError)
    with "--init=SPEC: " in front, so each names the flag once.
    """
    from deeplab_tf.weights.download import DownloadError
    from deeplab_tf.weights.imagenet import ImageNetWeightsError
    from deeplab_tf.weights.official import OfficialWeightsError
    kind, path = parse_init(spec)
    if not kind:
        return []
    try:
        return _initialize(model, spec, kind, path, info=info, model_config=model_config,
                           initialize_last_layer=initialize_last_layer, log=log, sha256=sha256)
    except (OfficialWeightsError, ImageNetWeightsError, DownloadError) as error:
        raise type(error)(f"--init={spec}: {error}") from None


def _initialize(model, spec, kind, path, *, info, model_config, initialize_last_layer, log,
                sha256=None):
    import deeplab_tf
    skip = () if initialize_last_layer else tuple(info["logits_layers"])
    if kind == "imagenet":
        from deeplab_tf.weights.imagenet import load_imagenet_weights
        backbone = info["backbone"]
        return load_imagenet_weights(model, backbone.imagenet_family or backbone.name,
                                     path or None, log=log)
    if kind == "official":
        kwargs = dict(output_stride=info["output_stride"], **model_config.build_kwargs())
        from deeplab_tf.weights import official
        if not path:
            backbone = info["backbone"]
            path = backbone.imagenet_checkpoint
            if not path:
                raise official.OfficialWeightsError(
                    f"backbone {backbone.name} of {model.name!r} has no official ImageNet "
                    "checkpoint; pass official:NAME|PATH (or imagenet for a Keras file)")
            log(f"--init={spec}: the {backbone.name} backbone's official ImageNet checkpoint, "
                f"{path}")
        path = resolve_official(path, sha256)
        if path.endswith(".tflite"):
            from deeplab_tf.weights.tflite_reader import read_tflite as reader
        else:
            from deeplab_tf.weights.checkpoint_reader import read_checkpoint as reader
        weights = reader(path)
        found = official.checkpoint_kind(weights)
        scope = info["backbone"].official_scope
        if found == "imagenet":
            return _imagenet_backbone(model, weights, spec, scope, log)
        if found is None and scope not in official.top_level_scopes(weights):
            raise official.OfficialWeightsError(
                f"{weights.source} holds no official backbone scope (its "
                f"top-level scopes: {_short(sorted(official.top_level_scopes(weights)))}); "
                f"expected an ImageNet checkpoint of one of "
                f"{sorted(official.BACKBONE_SCOPES)} (model {model.name!r}: {scope!r}) or a "
                f"DeepLab checkpoint with the head scopes {list(official.HEAD_SCOPES)}")
        logits = [v for k, v in weights.tensors.items() if k.startswith("logits/")
                  and v.ndim == 4]
        classes = logits[0].shape[-1] if logits else info["num_classes"]
        source = deeplab_tf.build_model(model_config.preset, num_classes=classes, **kwargs)
        decoder = _decoder_layers(source)
        if decoder and "decoder" not in official.top_level_scopes(weights):
            # A DeepLab v3 file (no decoder) starting a v3+ model: everything else loads
            # strictly, the decoder keeps its initializer.
            official.load_official_weights(
                source, weights, scopes=official.top_level_scopes(weights))
            skip += tuple(decoder)
            log(f"{weights.source} has no decoder (a DeepLab v3 model): the "
                f"{len(decoder)} decoder layers of {model.name} keep their initializer")
        else:
            official.load_official_weights(source, weights)
    else:
        # One of our runs or files, restored as saved (deeplab_tf.restore); a weights file with
        # no model_signature.json beside it is this run's preset with this run's classes. The
        # copy below is stride-independent, so the source keeps its own output stride.
        from deeplab_tf.restore import restore_model
        source = restore_model(path, preset=model_config.preset,
                               num_classes=info["num_classes"],
                               overrides=model_config.overrides, name=f"--init={spec}")
    copied, skipped = transfer_weights(source, model, skip_layers=skip)
    if not copied:
        raise ArchitectureMismatch(f"--init={spec}: no layer of it fits model {model.name!r}")
    log(f"initialised {len(copied)} layers from {spec}; not initialised: "
        f"{skipped if len(skipped) < 8 else skipped[:8] + ['...']}")
    return copied


def _decoder_layers(model):
    from deeplab_tf.models.naming import official_scope
    from deeplab_tf.weights.official import weighted_layers
    return [layer.name for layer in weighted_layers(model)
            if official_scope(layer.name).startswith("decoder/")]


def _short(names, limit=8):
    return ", ".join(names[:limit]) + (f", ... ({len(names) - limit} more)"
                                        if len(names) > limit else "")


def _imagenet_backbone(model, weights, spec, scope, log):
    """official:PATH of an ImageNet classification checkpoint: the backbone scope only."""
    from deeplab_tf.models.naming import official_scope
    from deeplab_tf.weights import official
    loaded, classifier = official.load_imagenet_backbone(model, weights, scope)
    done = set(loaded)
    head = [layer.name for layer in official.weighted_layers(model) if layer.name not in done]
    head_scopes = sorted({official_scope(name).split("/", 1)[0] for name in head})
    classifier_scopes = sorted({"/".join(name.split("/")[:2]) for name in classifier})
    ignored = weights.info.get("ignored", [])
    log(f"initialised the backbone {scope} ({len(loaded)} layers) from the ImageNet "
        f"checkpoint {spec}; ignored {', '.join(classifier_scopes) or 'no classifier'} "
        f"({len(classifier)} tensors) and {len(ignored)} optimizer slot / EMA / global_step "
        "entries")
    log(f"kept at their initializer: {len(head)} head layers under {_short(head_scopes, 16)}")
    return loaded

"""--init: where the weights of a new run come from.

  imagenet[:PATH]    Keras ImageNet weights for the backbone (deeplab_tf.weights.imagenet).
  official:PATH      an official TF1 checkpoint / model zoo tarball or an official .tflite
                     file (deeplab_tf.weights.official), loaded into a model of the same preset
                     with the file's number of classes, then copied over.
  checkpoint:PATH    one of our runs: a model_dir / TF checkpoint prefix (its
                     model_signature.json names the architecture), a .keras or .weights.h5.

The last layer (the logits convs, model_info()["logits_layers"]) is skipped when the number of
classes differs or when initialize_last_layer is False (official train.py
initialize_last_layer / last_layers_contain_logits_only). Used only when a run starts; a
resumed run restores its own checkpoint instead.
"""
import os

import tensorflow as tf

from deeplab_tf.training.checkpoints import (ArchitectureMismatch, describe, read_signature,
                                             transfer_weights)

INIT_KINDS = ("imagenet", "official", "checkpoint")


def parse_init(spec):
    """"kind[:path]" -> (kind, path); ("", "") when empty. Raises ValueError."""
    if not spec:
        return "", ""
    kind, _, path = spec.partition(":")
    if kind not in INIT_KINDS:
        raise ValueError(f"--init={spec!r}: unknown kind {kind!r}; expected imagenet[:PATH], "
                         "official:PATH or checkpoint:PATH")
    if kind != "imagenet" and not path:
        raise ValueError(f"--init={spec!r} needs a path ({kind}:PATH)")
    if path and not (os.path.exists(path) or tf.io.gfile.exists(path + ".index")):
        raise FileNotFoundError(f"--init={spec!r}: {path} does not exist")
    return kind, path


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


def initialize(model, spec, *, info, model_config, initialize_last_layer=True, log=print):
    """Applies --init to a freshly built model. Returns the names of the layers loaded."""
    import deeplab_tf
    kind, path = parse_init(spec)
    if not kind:
        return []
    skip = () if initialize_last_layer else tuple(info["logits_layers"])
    if kind == "imagenet":
        from deeplab_tf.weights.imagenet import load_imagenet_weights
        return load_imagenet_weights(model, info["backbone"].name, path or None, log=log)
    kwargs = dict(output_stride=info["output_stride"], **model_config.build_kwargs())
    if kind == "official":
        from deeplab_tf.weights import official
        if path.endswith(".tflite"):
            from deeplab_tf.weights.tflite_reader import read_tflite as reader
        else:
            from deeplab_tf.weights.checkpoint_reader import read_checkpoint as reader
        weights = reader(path)
        logits = [v for k, v in weights.tensors.items() if k.startswith("logits/")
                  and v.ndim == 4]
        classes = logits[0].shape[-1] if logits else info["num_classes"]
        source = deeplab_tf.build_model(model_config.preset, num_classes=classes, **kwargs)
        official.load_official_weights(source, weights)
    elif path.endswith(".keras"):
        import keras
        import deeplab_tf.models.builder  # noqa: F401  registers the custom layers
        source = keras.saving.load_model(path, compile=False)
    else:
        folder = path if os.path.isdir(path) else os.path.dirname(path)
        found = read_signature(folder) if not path.endswith(".h5") else None
        classes = found["num_classes"] if found else info["num_classes"]
        source = deeplab_tf.build_model(model_config.preset, num_classes=classes, **kwargs)
        if path.endswith(".h5"):
            source.load_weights(path)
        else:
            prefix = tf.train.latest_checkpoint(path) if os.path.isdir(path) else path
            tf.train.Checkpoint(model=source).restore(prefix).expect_partial() \
                .assert_existing_objects_matched()
    copied, skipped = transfer_weights(source, model, skip_layers=skip)
    if not copied:
        raise ArchitectureMismatch(f"--init={spec}: no layer of it fits model {model.name!r}")
    log(f"initialised {len(copied)} layers from {spec}; not initialised: "
        f"{skipped if len(skipped) < 8 else skipped[:8] + ['...']}")
    return copied

"""The one way to turn saved weights into a keras.Model.

    model = restore_model("runs/train")                 # a run's model_dir, or RUN/best
    model = restore_model("runs/train/ckpt-3000")       # one checkpoint of it
    model = restore_model("model.keras", output_stride=8)   # any of them at another stride
    model = restore_model("w.weights.h5", preset="deeplabv3_mobilenetv2", num_classes=21)

What each input is:
  - a training checkpoint folder (deeplab_tf.train's model_dir or its best/ folder): its latest
    checkpoint, rebuilt from the model_signature.json beside it;
  - a checkpoint prefix (RUN/ckpt-N, with .index): the same, for that checkpoint;
  - a .keras file: loaded as saved (the package's layers are registered first);
  - a .weights.h5 file: the weights of the model model_signature.json beside it names.
A checkpoint or weights file with no model_signature.json is built from preset / num_classes /
overrides instead (export --checkpoint with --preset, train --init=checkpoint:FILE.weights.h5).

Another output stride (evaluate a model trained at OS16 at OS8): only atrous rates and strides
change with the output stride, never a weight (DeepLab v3 paper, section 4.1: trained at OS16,
evaluated at OS8). A checkpoint or .weights.h5 is therefore read straight into the model built
at the new stride; a loaded .keras model is rebuilt there and every weight copied by layer
name with the transfer --init uses (deeplab_tf.training.checkpoints.transfer_weights).

Each unreadable input is one error line that names it (`name`: how the caller's flag calls it).
"""
import os

_KINDS = ("a training run folder (with model_signature.json and ckpt-*), a checkpoint prefix "
          "(with .index), a .keras file or a .weights.h5 file")


def find_checkpoint(path, name=None):
    """The checkpoint prefix of a run folder (its latest) or of a prefix; FileNotFoundError
    when there is none."""
    import tensorflow as tf
    path = os.fspath(path)
    name = name or path
    prefix = tf.train.latest_checkpoint(path) if os.path.isdir(path) else path
    if not prefix or not tf.io.gfile.exists(prefix + ".index"):
        raise FileNotFoundError(f"{name}: no TF checkpoint found (expected {_KINDS})")
    return prefix


def restore_model(path, *, output_stride=None, preset=None, num_classes=None, overrides=(),
                  name=None):
    """A keras.Model from a run folder, a checkpoint prefix, a .keras or a .weights.h5 file.

    Args:
      output_stride: rebuild at this output stride (None: as saved).
      preset, num_classes, overrides: the architecture of a checkpoint or .weights.h5 without
        model_signature.json beside it (ignored when there is one); for a .keras file, the
        overrides of an output-stride rebuild, and its preset when the model's name is none.
      name: how errors call `path` (e.g. "--checkpoint=PATH"); default the path itself.
    Raises:
      FileNotFoundError (nothing there, no signature and no preset), ValueError (not a
      readable .keras file, a rebuild that does not fit), CorruptCheckpoint (a ValueError:
      a checkpoint that cannot be read).
    """
    path = os.fspath(path)
    name = name or path
    overrides = dict(overrides)
    if path.endswith(".keras"):
        model = _load_keras(path, name)
        if output_stride is not None:
            import deeplab_tf
            # build_model names a model after its preset: that name is the file's own record.
            own = model.name if model.name in deeplab_tf.list_presets() else None
            model = rebuild_at_output_stride(model, output_stride, own or preset, **overrides)
        return model
    from deeplab_tf.training import checkpoints
    if path.endswith(".h5"):
        if not os.path.isfile(path):
            raise FileNotFoundError(f"{name}: no such file")
        prefix = None
    else:
        prefix = find_checkpoint(path, name)
    folder = path if os.path.isdir(path) else os.path.dirname(path)
    signature = checkpoints.read_signature(folder or ".")
    if signature is not None:
        preset, num_classes = signature["preset"], signature["num_classes"]
        overrides = dict(tuple(kv) for kv in signature["overrides"])
        # Checkpoint and .weights.h5 variables do not depend on the output stride (only rates
        # and strides do), so the model is built once, at the stride asked for.
        output_stride = output_stride or signature["output_stride"]
    elif preset is None:
        raise FileNotFoundError(f"{name}: {checkpoints.SIGNATURE_FILE} is missing in "
                                f"{folder or '.'}; it names the architecture to rebuild")
    import deeplab_tf
    model = deeplab_tf.build_model(preset, num_classes=num_classes, output_stride=output_stride,
                                   **overrides)
    if prefix is None:
        _load_weights_file(model, path, name)
    else:
        checkpoints.read_model_weights(model, prefix)   # every model weight, nothing else
    return model


def rebuild_at_output_stride(model, output_stride, preset=None, **overrides):
    """Same weights, another output stride: build_model(preset, output_stride=...) and every
    weight copied by layer name (transfer_weights; atrous rates change, weights do not).

    The preset is `preset` or model.name; tiny test models pass their build overrides.
    """
    import deeplab_tf
    from deeplab_tf.training.checkpoints import transfer_weights
    preset = preset or model.name
    if preset not in deeplab_tf.list_presets():
        raise ValueError(
            f"cannot rebuild {model.name!r} at output_stride={output_stride}: unknown preset "
            f"{preset!r} (pass --preset=NAME; presets: {deeplab_tf.list_presets()})")
    new = deeplab_tf.build_model(preset, num_classes=int(model.outputs[0].shape[-1]),
                                 output_stride=output_stride, **overrides)
    _, missing = transfer_weights(model, new)
    if missing:
        raise ValueError(f"layer {missing[0]} of the OS{output_stride} rebuild is missing from "
                         f"model {model.name!r} or has other weight shapes: preset/overrides "
                         f"differ ({len(missing)} such layers)")
    return new


def _load_keras(path, name):
    import zipfile

    import keras
    from deeplab_tf import registration
    registration.register()   # every custom layer the package saves
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{name}: no such file")
    if not zipfile.is_zipfile(path):
        raise ValueError(f"{name} is not a .keras file (a .keras file is a zip archive; this "
                         "one is not, or is truncated)")
    try:
        return keras.models.load_model(path, compile=False)
    except Exception as error:   # a damaged archive: BadZipFile, KeyError, OSError, ValueError
        raise ValueError(f"{name} is not a readable .keras file ({_first_line(error)})") \
            from None


def _load_weights_file(model, path, name):
    try:
        model.load_weights(path)
    except Exception as error:   # OSError (not HDF5), ValueError (other layers or shapes)
        raise ValueError(f"{name} cannot be read into {model.name} ({_first_line(error)})") \
            from None


def _first_line(error):
    text = str(error).strip()
    return f"{type(error).__name__}: {text.splitlines()[0][:200]}" if text else \
        type(error).__name__

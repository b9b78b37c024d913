"""Shared by the exporters: atomic outputs, model checks, variable tracking."""
import contextlib
import os
import pathlib
import shutil
import tempfile


@contextlib.contextmanager
def atomic_output(output, overwrite=False):
    """Yields a staging path beside `output`; renames it to `output` only if the block succeeds.

    The staging folder (".NAME.tmp-XXXX" in the output's parent, same filesystem so the rename
    is atomic) is removed whatever happens, and those of earlier killed exports to the same
    output are removed first; an existing output is replaced only with overwrite.
    """
    output = pathlib.Path(output).absolute()
    if output.exists() and not overwrite:
        raise FileExistsError(f"--output={output} already exists (pass --overwrite to replace it)")
    output.parent.mkdir(parents=True, exist_ok=True)
    for stale in output.parent.glob(f".{output.name}.tmp-*"):   # left by a killed export
        shutil.rmtree(stale, ignore_errors=True)
    tmp = pathlib.Path(tempfile.mkdtemp(prefix=f".{output.name}.tmp-", dir=output.parent))
    try:
        staged = tmp / output.name
        yield staged
        if not staged.exists():
            raise RuntimeError(f"export wrote nothing to {staged}")
        if output.exists():  # move the old export aside first: rename cannot replace a folder
            os.replace(output, tmp / "previous")
        os.replace(staged, output)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def check_model(model):
    """Number of classes of a model [B, H, W, 3] -> [B, H, W, C]; clear error otherwise."""
    shape = tuple(model.inputs[0].shape) if getattr(model, "inputs", None) else None
    if shape is None or len(shape) != 4 or shape[-1] != 3:
        raise ValueError(f"the model must take images [B, H, W, 3]; its input shape is {shape}")
    out = tuple(model.outputs[0].shape)
    if len(out) != 4:
        raise ValueError(f"the model must return logits [B, H, W, C]; its output shape is {out}")
    return out[-1]


def tracked_variables(model):
    """A tf.Module tracking the model's backing tf.Variables.

    Keras 3 variables wrap a tf.Variable; trackers that load a SavedModel the TF1 way (TF
    Serving, saved_model_cli run, the TFLite converter's freezing step) only find the wrapped
    ones when they are tracked directly. Passing the keras.Model itself to the converter gives,
    with TF 2.21, a float file whose outputs are NaN and an int8 calibration that fails on
    READ_VARIABLE ops.
    """
    import tensorflow as tf
    module = tf.Module()
    module.model_variables = [v.value for v in model.variables]
    return module


def float32_model(model):
    """`model` itself if every layer computes in float32, else a float32 copy with its weights.

    A model built under a mixed precision policy (training's --mixed_precision) computes in
    bfloat16/float16, which the TFLite converter cannot lower ("'tf.RealDiv' op is neither a
    custom op nor a flex op"); its variables are float32 already, so a float32 rebuild from the
    same config holds exactly the same weights.
    """
    if all(layer.compute_dtype == "float32" for layer in model.layers):
        return model
    config = model.get_config()
    for layer in config["layers"]:
        layer["config"]["dtype"] = "float32"
    clone = model.__class__.from_config(config)
    clone.set_weights(model.get_weights())
    return clone

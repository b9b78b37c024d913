"""Loading a model for inference: a .keras file, a SavedModel folder or a .tflite file (or an
in-memory keras.Model) as a Predictor, and a training checkpoint rebuilt as a keras.Model.

    predictor = load_predictor("model.keras")            # or a SavedModel folder, or .tflite
    predictor = predictor_from_keras(model)              # an in-memory keras.Model
    model = rebuild_at_output_stride(model, 8)           # same weights, another output stride
    model, prefix = load_checkpoint(RUN_DIR)             # deeplab_tf.train's model_dir

(Those two keras.Model loaders are deeplab_tf.restore's, which export and --init use too.)

deeplab_tf.inference runs predictors (padding, multi-scale + flip, probabilities at image
size) and re-exports the loading names, so `inference.load_predictor(...)` works as well.

Model kinds (evaluate, predict, export's parity checks and the benchmark all come through here):
  - .keras: build_model's contract, float 0..255 images -> logits [B, H, W, C].
  - SavedModel folder: tf.saved_model.load, signature "serving_default" (deeplab_tf.export:
    uint8 images [B, H, W, 3] -> "probabilities" [B, H, W, C] and "labels"); any signature
    whose outputs include "probabilities", "logits" or "labels" works.
  - .tflite: ai_edge_litert Interpreter, fixed input [1, H, W, 3]; images larger than it are
    scaled down to fit (aspect kept) and padded. Float inputs take 0..255 unless the file is
    an official one (input tensor "sub_7": (x-127.5)/127.5 outside the graph); uint8/int8
    inputs use the file's quantisation (the official int8 file folds (x-127.5)/127.5 into
    scale 1/128, zero point 128). Files with ArgMax inside give labels only: single scale, no
    flip, no CRF (a clear error says so).
"""
import dataclasses
import os
from typing import Optional, Tuple

import numpy as np

# Restoring a keras.Model (checkpoints, .keras files, another output stride) is
# deeplab_tf.restore; rebuild_at_output_stride is reachable from here as before.
from deeplab_tf.restore import find_checkpoint, rebuild_at_output_stride, restore_model

LOGITS, PROBABILITIES, LABELS = "logits", "probabilities", "labels"


@dataclasses.dataclass
class Predictor:
    """A loaded model. run(batch float32 [B, H, W, 3] in 0..255) -> [B, H, W, C] or [B, H, W]."""
    path: str
    kind: str                                   # "keras" | "saved_model" | "tflite"
    output: str                                 # LOGITS | PROBABILITIES | LABELS
    num_classes: Optional[int]
    run: object                                 # callable
    mean_pixel: Tuple[float, float, float] = (127.5, 127.5, 127.5)
    fixed_size: Optional[Tuple[int, int]] = None  # .tflite input size
    model: object = None                        # the keras.Model (kind "keras")


# ---------------------------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------------------------
def load_predictor(path, *, output_stride=None, preset=None, tflite_input_range="auto",
                   num_threads=None, mean_pixel=None, signature="serving_default"):
    """Loads a .keras file, a SavedModel folder, a training checkpoint folder (a run's
    model_dir or its best/ folder) or a .tflite file.

    Args:
      output_stride: (.keras only) rebuild the model at this output stride and copy the
        weights (evaluate at OS8 a model trained at OS16); needs the preset (taken from
        `preset` or the model's name).
      tflite_input_range: "auto" | "0_255" | "minus_one_to_one" for .tflite float inputs.
      signature: the SavedModel signature to call (one image input; outputs named
        "probabilities", "logits" or "labels").
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"model {path} does not exist (expected a .keras file, a "
                                "SavedModel folder or a .tflite file)")
    if path.endswith(".tflite"):
        pred = _load_tflite(path, tflite_input_range, num_threads)
    elif os.path.isdir(path) and os.path.exists(os.path.join(path, "saved_model.pb")):
        pred = _load_saved_model(path, signature)
    elif path.endswith(".keras"):
        pred = _load_keras(path, output_stride, preset)
    elif os.path.isdir(path) and os.path.exists(os.path.join(path, "model_signature.json")):
        # A training run folder or its best/ folder: rebuilt from the signature.
        pred = predictor_from_keras(load_checkpoint(path, output_stride)[0], path)
    else:
        raise ValueError(f"model {path} is neither a .keras file, a SavedModel folder "
                         "(with saved_model.pb), a training checkpoint folder (RUN or "
                         "RUN/best, with model_signature.json) nor a .tflite file")
    if output_stride is not None and pred.kind != "keras":
        raise ValueError(f"output_stride={output_stride} needs a .keras model; {path} is a "
                         f"{pred.kind} whose output stride is fixed at export time")
    if mean_pixel is not None:
        pred.mean_pixel = tuple(mean_pixel)
    return pred


def predictor_from_keras(model, path="<keras.Model>"):
    """Wraps an in-memory keras.Model (e.g. in the training loop)."""
    import tensorflow as tf
    from deeplab_tf.models.layers import MEAN_PIXEL, Preprocess
    modes = [l.mode for l in model._flatten_layers() if isinstance(l, Preprocess)]
    # A model built for one input size is used like a fixed-size .tflite (pad / fit to it).
    height, width = tuple(model.inputs[0].shape)[1:3]
    fixed = (int(height), int(width)) if height is not None and width is not None else None
    # One trace for every batch size and image size.
    call = tf.function(lambda x: tf.cast(model(x, training=False), tf.float32),
                       input_signature=[tf.TensorSpec([None, height, width, 3], tf.float32)])
    return Predictor(path, "keras", LOGITS, int(model.outputs[0].shape[-1]),
                     lambda x: call(tf.constant(x, tf.float32)).numpy(),
                     MEAN_PIXEL[modes[0]] if modes else (127.5, 127.5, 127.5), fixed_size=fixed,
                     model=model)


def _load_keras(path, output_stride, preset):
    model = restore_model(path, output_stride=output_stride, preset=preset)
    return predictor_from_keras(model, path)


def _load_saved_model(path, signature):
    import tensorflow as tf
    loaded = tf.saved_model.load(path)
    if signature not in loaded.signatures:
        raise ValueError(f"SavedModel {path} has no {signature!r} signature "
                         f"(signatures: {list(loaded.signatures)})")
    fn = loaded.signatures[signature]
    if len(fn.structured_input_signature[1]) != 1:
        raise ValueError(f"SavedModel {path} signature {signature!r} takes inputs "
                         f"{list(fn.structured_input_signature[1])}; expected one image input")
    (in_name, spec), = fn.structured_input_signature[1].items()
    outs = fn.structured_outputs
    output = next((k for k in (PROBABILITIES, LOGITS, LABELS) if k in outs), None)
    if output is None:
        raise ValueError(f"SavedModel {path}: {signature} outputs {list(outs)}; expected "
                         "'probabilities', 'logits' or 'labels'")
    num_classes = outs[output].shape[-1] if output != LABELS else None

    def run(x):
        x = np.clip(np.round(x), 0, 255) if spec.dtype == tf.uint8 else x
        return fn(**{in_name: tf.constant(x, spec.dtype)})[output].numpy()
    return Predictor(path, "saved_model", output, num_classes, run)


def _load_tflite(path, input_range, num_threads):
    from ai_edge_litert.interpreter import Interpreter
    try:
        interp = Interpreter(model_path=path, num_threads=num_threads or os.cpu_count())
        interp.allocate_tensors()
    except (ValueError, RuntimeError) as error:   # LiteRT verifies the flatbuffer first
        raise ValueError(f"{path} is not a readable .tflite file ({error})") from None
    inp, = interp.get_input_details()
    outs = interp.get_output_details()
    if len(inp["shape"]) != 4 or inp["shape"][0] != 1 or inp["shape"][3] != 3:
        raise ValueError(f"{path}: input shape {list(inp['shape'])}, expected [1, H, W, 3]")
    out = outs[0]
    names = [k for s in interp.get_signature_list().values() for k in s.get("outputs", [])]
    if np.issubdtype(out["dtype"], np.integer) and len(out["shape"]) == 3:
        output, num_classes = LABELS, None
    else:
        output = PROBABILITIES if PROBABILITIES in names else LOGITS
        num_classes = int(out["shape"][-1])
    scale, zero = inp["quantization"]
    if input_range == "auto":
        if inp["dtype"] == np.float32:
            # The official float file takes (x-127.5)/127.5 computed outside the graph (its
            # input tensor is "sub_7"); our exports take 0..255 (preprocessing inside).
            input_range = "minus_one_to_one" if inp["name"] == "sub_7" else "0_255"
        else:
            lo, hi = scale * (0 - zero), scale * (255 - zero)
            input_range = "minus_one_to_one" if hi < 2.0 and lo < -0.5 else "0_255"

    def run(x):
        if input_range == "minus_one_to_one":
            x = x / 127.5 - 1.0
        if inp["dtype"] != np.float32:
            info = np.iinfo(inp["dtype"])
            x = np.clip(np.round(x / scale + zero), info.min, info.max)
        results = []
        for image in x:
            interp.set_tensor(inp["index"], image[None].astype(inp["dtype"]))
            interp.invoke()
            y = interp.get_tensor(out["index"])[0]
            if output != LABELS and out["dtype"] != np.float32:
                s, z = out["quantization"]
                y = (y.astype(np.float32) - z) * s
            results.append(y)
        return np.stack(results)
    return Predictor(path, "tflite", output, num_classes, run,
                     fixed_size=(int(inp["shape"][1]), int(inp["shape"][2])))


# ---------------------------------------------------------------------------------------------
# Training checkpoints
# ---------------------------------------------------------------------------------------------
def load_checkpoint(path, output_stride=None):
    """A training checkpoint (run folder, RUN/best or a prefix) -> (keras.Model, its prefix);
    deeplab_tf.restore.restore_model does the work."""
    name = f"--checkpoint={path}"
    prefix = find_checkpoint(path, name)
    return restore_model(path, output_stride=output_stride, name=name), prefix

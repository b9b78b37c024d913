"""The one way to get class probabilities at image size from a trained model.

    predictor = load_predictor("model.keras")            # or a SavedModel folder, or .tflite
    probs = predict_probabilities(predictor, images, eval_scales=(0.5, 1.0, 1.5),
                                  add_flipped_images=True)   # list of float32 [H_i, W_i, C]
    labels = predict_labels(predictor, images)            # list of int32 [H_i, W_i]

Whole-image inference the official way (research/deeplab eval.py + input_preprocess.py):
  1. each image (optionally scaled by s: size (d-1)*s+1, official scale_dimension, and/or
     left-right flipped) is padded at the bottom/right with the model's mean pixel to a size of
     the form OS*k+1 (or to the fixed input size of a .tflite / a given crop_size), so the
     align_corners arithmetic of the network is exact;
  2. the output is cropped back to the valid region, resized (bilinear, align_corners=True) to
     the image size, turned into probabilities (softmax after the resize, as the official
     predict_labels_multi_scale) and flipped back;
  3. probabilities of every scale/flip are AVERAGED (official: reduce_mean over scales).
Images are batched by padded size: each image is padded to its own smallest OS*k+1 size and
only images of equal padded size share a batch, so results never depend on the batch size.
(The official eval pads every image to eval_crop_size 513x513 instead; pass crop_size for that
fixed-size behaviour: image-pooling heads then average over more padding.)

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
import math
import os
from typing import Optional, Tuple

import numpy as np

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
    """Loads a .keras file, a SavedModel folder or a .tflite file.

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
    else:
        raise ValueError(f"model {path} is neither a .keras file, a SavedModel folder "
                         "(with saved_model.pb) nor a .tflite file")
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
    import keras
    import deeplab_tf.models.layers  # noqa: F401  (registers the custom layers)
    try:
        import deeplab_tf.models  # noqa: F401  (registers every custom layer, when present)
    except ImportError:
        pass
    model = keras.models.load_model(path, compile=False)
    if output_stride is not None:
        model = rebuild_at_output_stride(model, output_stride, preset)
    return predictor_from_keras(model, path)


def rebuild_at_output_stride(model, output_stride, preset=None, **overrides):
    """Same weights, another output stride: build_model(preset, output_stride=...) and copy
    every weight by layer name (atrous rates change, weights do not; v3 paper section 4.1).

    The preset is `preset` or model.name; tiny test models pass their build overrides.
    """
    import deeplab_tf
    preset = preset or model.name
    if preset not in deeplab_tf.list_presets():
        raise ValueError(
            f"cannot rebuild {model.name!r} at output_stride={output_stride}: unknown preset "
            f"{preset!r} (pass --preset=NAME; presets: {deeplab_tf.list_presets()})")
    new = deeplab_tf.build_model(preset, num_classes=int(model.outputs[0].shape[-1]),
                                 output_stride=output_stride, **overrides)
    old_layers = {l.name: l for l in model.layers}
    for layer in new.layers:
        if not layer.weights:
            continue
        if layer.name not in old_layers:
            raise ValueError(f"layer {layer.name} of the OS{output_stride} rebuild is missing "
                             f"from model {model.name!r}: preset/overrides differ")
        layer.set_weights(old_layers[layer.name].get_weights())
    return new


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
    interp = Interpreter(model_path=path, num_threads=num_threads or os.cpu_count())
    interp.allocate_tensors()
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
# Resizing, padding (numpy in, numpy out; the TF op keeps align_corners=True like the model)
# ---------------------------------------------------------------------------------------------
def resize(x, size, method="bilinear"):
    """[h, w, C] -> [H, W, C] with align_corners=True, half_pixel_centers=False (the official
    resize; the raw ops avoid tf.compat.v1's deprecation warnings)."""
    import tensorflow as tf
    from deeplab_tf.models.layers import resize_bilinear
    size = tuple(int(s) for s in size)
    if tuple(x.shape[:2]) == size:
        return x
    if method == "nearest":
        y = tf.raw_ops.ResizeNearestNeighbor(images=x[None], size=size, align_corners=True,
                                             half_pixel_centers=False)
        return y[0].numpy().astype(x.dtype)
    y = resize_bilinear(np.asarray(x, np.float32)[None], size)
    return y[0].numpy()


def scale_dimension(dim, scale):
    """Official utils/scale_dimension: int((dim - 1) * scale + 1)."""
    return int((dim - 1) * scale + 1.0)


def padded_size(height, width, multiple=16):
    """Smallest (OS*k+1, OS*k'+1) holding (height, width)."""
    return (multiple * math.ceil((height - 1) / multiple) + 1,
            multiple * math.ceil((width - 1) / multiple) + 1)


def run_padded(predictor, images, batch_size=4, pad_multiple=16, crop_size=None):
    """Runs the model on images (list of [h, w, 3]), each padded bottom/right with the mean
    pixel to its own OS*k+1 size (or to crop_size / the fixed input size); returns the raw
    outputs cropped back to each image's region: list of [h, w, C] (or [h, w] labels).

    Only images with the same padded size share a batch, so an image's result never depends
    on which other images it is batched with (image-pooling heads average over the padding).
    """
    def target_of(im):
        target = predictor.fixed_size or crop_size or padded_size(*im.shape[:2], pad_multiple)
        if im.shape[0] > target[0] or im.shape[1] > target[1]:
            raise ValueError(f"image {im.shape[0]}x{im.shape[1]} is larger than the input size "
                             f"{target[0]}x{target[1]} of {predictor.path}")
        return tuple(target)

    groups = {}
    for index, im in enumerate(images):
        groups.setdefault(target_of(im), []).append(index)
    results = [None] * len(images)
    for target, indices in groups.items():
        for start in range(0, len(indices), batch_size):
            chunk = indices[start:start + batch_size]
            batch = np.empty((len(chunk), target[0], target[1], 3), np.float32)
            batch[:] = np.asarray(predictor.mean_pixel, np.float32)
            for row, i in enumerate(chunk):
                batch[row, :images[i].shape[0], :images[i].shape[1]] = images[i]
            out = predictor.run(batch)
            if out.shape[1:3] != target:   # a model with lower-resolution outputs
                out = np.stack([resize(o, target) if o.ndim == 3 else
                                resize(o[..., None], target, "nearest")[..., 0] for o in out])
            for row, i in enumerate(chunk):
                results[i] = out[row, :images[i].shape[0], :images[i].shape[1]]
    return results


# ---------------------------------------------------------------------------------------------
# Probabilities at image size: multi-scale + flip, averaged
# ---------------------------------------------------------------------------------------------
def _softmax(x):
    x = x - x.max(-1, keepdims=True)
    e = np.exp(x)
    return e / e.sum(-1, keepdims=True)


def _fit_scale(predictor, shape, scale):
    """The scale actually used: `scale`, reduced so the image fits a fixed input size."""
    if predictor.fixed_size is None:
        return scale
    limit = min((f - 1) / max(d - 1, 1) for f, d in zip(predictor.fixed_size, shape[:2]))
    return min(scale, limit)


def predict_probabilities(predictor, images, eval_scales=(1.0,), add_flipped_images=False,
                          batch_size=4, pad_multiple=16, crop_size=None):
    """Averaged class probabilities at each image's size.

    Args:
      images: list of [H_i, W_i, 3] arrays in 0..255 (or a [B, H, W, 3] array).
      eval_scales: input scales (official eval_scales; multi-scale: 0.5..1.75).
      add_flipped_images: also run each scale left-right flipped.
      pad_multiple: the eval output stride (8 or 16): inputs are padded to OS*k+1.
      crop_size: pad every image to this fixed (H, W) instead (official eval_crop_size).
    Returns:
      list of float32 [H_i, W_i, C], each summing to 1 over C.
    """
    if predictor.output == LABELS:
        raise ValueError(f"{predictor.path} outputs class labels only (ArgMax inside): no "
                         "probabilities for multi-scale/flip averaging or the CRF; use a "
                         "model that outputs logits or probabilities")
    images = [np.asarray(im, np.float32) for im in images]
    totals = [None] * len(images)
    for scale in eval_scales:
        for flip in ((False, True) if add_flipped_images else (False,)):
            inputs = []
            for im in images:
                s = _fit_scale(predictor, im.shape, scale)
                x = im[:, ::-1] if flip else im
                if s != 1.0:
                    x = resize(x, (scale_dimension(im.shape[0], s),
                                   scale_dimension(im.shape[1], s)))
                inputs.append(np.ascontiguousarray(x))
            outs = run_padded(predictor, inputs, batch_size, pad_multiple, crop_size)
            for i, (im, out) in enumerate(zip(images, outs)):
                out = resize(out, im.shape[:2])
                prob = _softmax(out) if predictor.output == LOGITS else \
                    out / np.maximum(out.sum(-1, keepdims=True), 1e-12)
                prob = prob[:, ::-1] if flip else prob
                totals[i] = prob if totals[i] is None else totals[i] + prob
    count = len(eval_scales) * (2 if add_flipped_images else 1)
    return [np.ascontiguousarray(t / count, dtype=np.float32) for t in totals]


def predict_labels(predictor, images, eval_scales=(1.0,), add_flipped_images=False,
                   batch_size=4, pad_multiple=16, crop_size=None):
    """int32 [H_i, W_i] class maps; label-only .tflite files are supported (single scale)."""
    if predictor.output != LABELS:
        probs = predict_probabilities(predictor, images, eval_scales, add_flipped_images,
                                      batch_size, pad_multiple, crop_size)
        return [p.argmax(-1).astype(np.int32) for p in probs]
    if tuple(eval_scales) != (1.0,) or add_flipped_images:
        raise ValueError(f"{predictor.path} outputs labels only (ArgMax inside): multi-scale "
                         "and flipped evaluation need probabilities; use eval_scales=1.0 and "
                         "no flip")
    images = [np.asarray(im, np.float32) for im in images]
    inputs = []
    for im in images:
        s = _fit_scale(predictor, im.shape, 1.0)
        inputs.append(im if s == 1.0 else resize(
            im, (scale_dimension(im.shape[0], s), scale_dimension(im.shape[1], s))))
    outs = run_padded(predictor, inputs, batch_size, pad_multiple, crop_size)
    return [resize(o.astype(np.int32)[..., None], im.shape[:2], "nearest")[..., 0]
            for o, im in zip(outs, images)]

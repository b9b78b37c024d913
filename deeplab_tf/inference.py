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

Images larger than a tile can run in overlapping, blended tiles in bounded memory: pass
tiling=deeplab_tf.tiling.Tiling(...) (the module explains the window and the band buffer).

Loading (Predictor, load_predictor, predictor_from_keras, rebuild_at_output_stride and the
model kinds: .keras, SavedModel, .tflite) is deeplab_tf.predictors; those names are imported
here too, so `inference.load_predictor(...)` works.
"""
import numpy as np

from deeplab_tf.geometry import padded_size, scale_dimension
from deeplab_tf.predictors import (  # noqa: F401  (the loading API, reachable from here)
    LABELS, LOGITS, PROBABILITIES, Predictor, load_predictor, predictor_from_keras,
    rebuild_at_output_stride)


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
                          batch_size=4, pad_multiple=16, crop_size=None, tiling=None):
    """Averaged class probabilities at each image's size.

    Args:
      images: list of [H_i, W_i, 3] arrays in 0..255 (or a [B, H, W, 3] array).
      eval_scales: input scales (official eval_scales; multi-scale: 0.5..1.75).
      add_flipped_images: also run each scale left-right flipped.
      pad_multiple: the eval output stride (8 or 16): inputs are padded to OS*k+1.
      crop_size: pad every image to this fixed (H, W) instead (official eval_crop_size).
      tiling: a deeplab_tf.tiling.Tiling: images above its pixel count are run in blended,
        overlapping tiles (each tile at every scale and flip); None: whole images.
    Returns:
      list of float32 [H_i, W_i, C], each summing to 1 over C.
    """
    if predictor.output == LABELS:
        raise ValueError(f"{predictor.path} outputs class labels only (ArgMax inside): no "
                         "probabilities for multi-scale/flip averaging or the CRF; use a "
                         "model that outputs logits or probabilities")
    if tiling is not None:
        return _tiled(predictor, [np.asarray(im) for im in images], tiling, eval_scales,
                      add_flipped_images, batch_size, pad_multiple, crop_size, labels_only=False)
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
                   batch_size=4, pad_multiple=16, crop_size=None, tiling=None):
    """int32 [H_i, W_i] class maps; label-only .tflite files are supported (single scale).
    With tiling, tiled images are reduced to labels band by band (no whole-image
    probabilities are kept)."""
    if predictor.output == LABELS and (tuple(eval_scales) != (1.0,) or add_flipped_images):
        raise ValueError(f"{predictor.path} outputs labels only (ArgMax inside): multi-scale "
                         "and flipped evaluation need probabilities; use eval_scales=1.0 and "
                         "no flip")
    if tiling is not None:
        return _tiled(predictor, [np.asarray(im) for im in images], tiling, eval_scales,
                      add_flipped_images, batch_size, pad_multiple, crop_size, labels_only=True)
    if predictor.output != LABELS:
        probs = predict_probabilities(predictor, images, eval_scales, add_flipped_images,
                                      batch_size, pad_multiple, crop_size)
        return [p.argmax(-1).astype(np.int32) for p in probs]
    images = [np.asarray(im, np.float32) for im in images]
    inputs = []
    for im in images:
        s = _fit_scale(predictor, im.shape, 1.0)
        inputs.append(im if s == 1.0 else resize(
            im, (scale_dimension(im.shape[0], s), scale_dimension(im.shape[1], s))))
    outs = run_padded(predictor, inputs, batch_size, pad_multiple, crop_size)
    return [resize(o.astype(np.int32)[..., None], im.shape[:2], "nearest")[..., 0]
            for o, im in zip(outs, images)]


def _tiled(predictor, images, tiling, eval_scales, add_flipped_images, batch_size,
           pad_multiple, crop_size, labels_only):
    """deeplab_tf.tiling around the untiled functions: every tile (and every image below the
    tiling's pixel count) goes through predict_probabilities / predict_labels as before."""
    from deeplab_tf import tiling as tiling_lib
    tiling = tiling_lib.for_predictor(tiling, predictor)
    whole = predict_labels if labels_only or predictor.output == LABELS else \
        predict_probabilities
    tile_fn = predict_labels if predictor.output == LABELS else predict_probabilities

    def run_whole(chunk):
        return whole(predictor, chunk, eval_scales, add_flipped_images, batch_size,
                     pad_multiple, crop_size)

    def run_tiles(tiles):
        return tile_fn(predictor, tiles, eval_scales, add_flipped_images, batch_size,
                       pad_multiple, crop_size)
    return tiling_lib.predict_many(images, tiling, run_whole, run_tiles,
                                   labels_only=labels_only,
                                   label_model=predictor.output == LABELS, align=pad_multiple)

"""Training augmentation and evaluation padding as the official research/deeplab does them.

Pure functions of tensors and an explicit seed (stateless random ops), so they give the same
result eagerly and inside Dataset.map, and a seeded pipeline is reproducible. Shapes: image
[H, W, 3] (uint8 or float), label [H, W] (any integer dtype, 255 = ignore). Outputs: image
float32 in 0..255, label int32.

Official recipe (input_preprocess.py, preprocess_utils.py): random scale from
{0.5, 0.75, ..., 2.0}; image resized bilinearly with align_corners=True, label by nearest
neighbour (labels are never interpolated); pad bottom/right to at least the crop, the image with
the mean pixel and the label with 255; random crop; left-right flip with probability 0.5.
"""
import tensorflow as tf

from deeplab_tf.data.datasets import IGNORE_LABEL
from deeplab_tf.geometry import padded_size
from deeplab_tf.models.layers import resize_bilinear

_PROB_OF_FLIP = 0.5  # official input_preprocess.py _PROB_OF_FLIP


def random_scale_factor(seed, min_scale=0.5, max_scale=2.0, step=0.25):
    """One scale from min..max in `step`s (official get_random_scale); uniform if step == 0."""
    if min_scale == max_scale:
        return tf.constant(min_scale, tf.float32)
    if step == 0:
        return tf.random.stateless_uniform([], seed, min_scale, max_scale)
    num_steps = int(round((max_scale - min_scale) / step)) + 1
    index = tf.random.stateless_uniform([], seed, 0, num_steps, dtype=tf.int32)
    return min_scale + tf.cast(index, tf.float32) * step


def scale_image_and_label(image, label, scale):
    """Resizes by `scale` (new size = floor(size * scale), as the official code truncates)."""
    shape = tf.cast(tf.shape(image)[:2], tf.float32)
    size = tf.cast(shape * scale, tf.int32)
    # The raw ops expose align_corners (tf.image.resize has no such option).
    image = resize_bilinear(tf.cast(image, tf.float32)[None], size)[0]
    label = tf.raw_ops.ResizeNearestNeighbor(images=label[None, :, :, None], size=size,
                                             align_corners=True,
                                             half_pixel_centers=False)[0, :, :, 0]
    return image, label


def pad_to_size(image, label, height, width, mean_pixel=(127.5, 127.5, 127.5),
                ignore_label=IGNORE_LABEL):
    """Pads bottom/right to [height, width]: image with mean_pixel, label with ignore_label.

    Sizes smaller than the input are not cropped (the official pad_to_bounding_box asserts).
    label may be None. -> (image float32, label int32 or None).
    """
    shape = tf.shape(image)
    paddings = [[0, tf.maximum(height - shape[0], 0)], [0, tf.maximum(width - shape[1], 0)]]
    image = tf.cast(image, tf.float32)
    if len(set(mean_pixel)) == 1:
        image = tf.pad(image, paddings + [[0, 0]], constant_values=float(mean_pixel[0]))
    else:   # tf.pad takes one value: pad around 0 after removing the mean
        mean = tf.constant(mean_pixel, tf.float32)
        image = tf.pad(image - mean, paddings + [[0, 0]]) + mean
    if label is not None:
        label = tf.pad(tf.cast(label, tf.int32), paddings, constant_values=ignore_label)
    return image, label


def _random_params(seed, height, width, crop_size, min_scale, max_scale, scale_step, flip):
    """(scale, scaled height, scaled width, crop y, crop x, flip?) drawn as the official code.

    Crop offsets are uniform over the padded scaled image: 0..max(scaled - crop, 0).
    """
    seeds = tf.random.experimental.stateless_split(tf.convert_to_tensor(seed), 4)
    scale = random_scale_factor(seeds[0], min_scale, max_scale, scale_step)
    scaled_h = tf.cast(tf.cast(height, tf.float32) * scale, tf.int32)
    scaled_w = tf.cast(tf.cast(width, tf.float32) * scale, tf.int32)
    y = tf.random.stateless_uniform([], seeds[1], 0, tf.maximum(scaled_h - crop_size[0], 0) + 1,
                                    dtype=tf.int32)
    x = tf.random.stateless_uniform([], seeds[2], 0, tf.maximum(scaled_w - crop_size[1], 0) + 1,
                                    dtype=tf.int32)
    flipped = tf.logical_and(tf.constant(flip),
                             tf.random.stateless_uniform([], seeds[3]) < _PROB_OF_FLIP)
    return scale, scaled_h, scaled_w, y, x, flipped


def train_preprocess_reference(image, label, seed, crop_size=(513, 513), min_scale=0.5,
                               max_scale=2.0, scale_step=0.25,
                               mean_pixel=(127.5, 127.5, 127.5), ignore_label=IGNORE_LABEL,
                               flip=True):
    """The official steps one by one (scale, pad, crop, flip); train_preprocess is the fast
    equivalent used by the pipeline and is tested against this one."""
    shape = tf.shape(image)
    scale, _, _, y, x, flipped = _random_params(seed, shape[0], shape[1], crop_size,
                                                min_scale, max_scale, scale_step, flip)
    image, label = scale_image_and_label(image, label, scale)
    image, label = pad_to_size(image, label, crop_size[0], crop_size[1], mean_pixel,
                               ignore_label)
    image = image[y:y + crop_size[0], x:x + crop_size[1]]
    label = label[y:y + crop_size[0], x:x + crop_size[1]]
    return tf.cond(flipped, lambda: (tf.reverse(image, [1]), tf.reverse(label, [1])),
                   lambda: (image, label))


def _nearest_indices(start, count, scaled, size, flipped):
    """Source indices of `count` scaled pixels from `start`, as the official nearest resize.

    TF's ResizeNearestNeighbor(align_corners=True) takes source index
    min(roundf(c * float((size - 1) / (scaled - 1))), size - 1) for scaled pixel c; pixels at
    c >= scaled are padding and get index `size` (one padding row/column appended below).
    """
    scale = tf.cast(size - 1, tf.float32) / tf.cast(tf.maximum(scaled - 1, 1), tf.float32)
    c = tf.range(start, start + count)
    index = tf.minimum(tf.cast(tf.floor(tf.cast(c, tf.float32) * scale + 0.5), tf.int32),
                       size - 1)
    index = tf.where(c < scaled, index, size)
    return tf.cond(flipped, lambda: index[::-1], lambda: index)


def train_preprocess(image, label, seed, crop_size=(513, 513), min_scale=0.5, max_scale=2.0,
                     scale_step=0.25, mean_pixel=(127.5, 127.5, 127.5), ignore_label=IGNORE_LABEL,
                     flip=True):
    """Random scale, pad, random crop, flip. -> image float32 [ch, cw, 3], label int32 [ch, cw].

    seed: int tensor [2]; the same seed gives the same output, eagerly or in tf.data.
    Same result as train_preprocess_reference (tested), with less work: the image is resized
    (bilinear, align_corners=True) and only its crop is padded and flipped; the label is never
    resized as a whole: its crop is gathered directly from the source pixels the official
    nearest-neighbour resize would pick, padding and flip included.
    """
    shape = tf.shape(image)
    crop_h, crop_w = crop_size
    scale, scaled_h, scaled_w, y, x, flipped = _random_params(
        seed, shape[0], shape[1], crop_size, min_scale, max_scale, scale_step, flip)
    # Casting first is faster than resizing uint8 (same values: the op interpolates in float).
    scaled = resize_bilinear(tf.cast(image, tf.float32)[None], tf.stack([scaled_h, scaled_w]))[0]
    crop = scaled[y:y + crop_h, x:x + crop_w]
    crop, _ = pad_to_size(crop, None, crop_h, crop_w, mean_pixel, ignore_label)
    # tf.reverse, not crop[:, ::-1]: the negative-stride slice costs ~3 ms per 513x513 crop.
    crop = tf.cond(flipped, lambda: tf.reverse(crop, [1]), lambda: crop)

    label = tf.pad(label, [[0, 1], [0, 1]], constant_values=ignore_label)
    rows = _nearest_indices(y, crop_h, scaled_h, shape[0], tf.constant(False))
    cols = _nearest_indices(x, crop_w, scaled_w, shape[1], flipped)
    label = tf.gather(tf.gather(label, rows), cols, axis=1)
    label = tf.ensure_shape(tf.cast(label, tf.int32), [crop_h, crop_w])
    return tf.ensure_shape(crop, [crop_h, crop_w, 3]), label


# The former name of geometry.padded_size (the smallest OS*k+1 crop holding an image).
eval_crop_size = padded_size


def eval_preprocess(image, label, crop_size=None, output_stride=16,
                    mean_pixel=(127.5, 127.5, 127.5), ignore_label=IGNORE_LABEL):
    """Pads bottom/right to crop_size (None: the smallest OS*k+1 crop holding the image).

    -> (image float32 [ch, cw, 3], label int32 [ch, cw], height, width) where height/width is
    the valid region before padding (predictions are cropped back to it).
    """
    shape = tf.shape(image)
    height, width = shape[0], shape[1]
    if crop_size is None:
        crop_height, crop_width = padded_size(height, width, output_stride)
    else:
        crop_height, crop_width = crop_size
        tf.debugging.assert_less_equal(
            [height, width], [crop_height, crop_width],
            message=f"an eval image is larger than eval_crop_size {tuple(crop_size)}; use a "
                    "larger eval crop or None (pad each image to its own OS*k+1 crop)")
    image, label = pad_to_size(image, label, crop_height, crop_width, mean_pixel, ignore_label)
    return image, label, height, width

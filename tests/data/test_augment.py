"""Augmentation: eager == Dataset.map, fast == official step-by-step, labels stay aligned."""
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from deeplab_tf.data import augment
from deeplab_tf.data.datasets import voc_colormap
from tests.conftest import shared_path

CROP = (33, 33)
MEAN = (127.5, 127.5, 127.5)


def _scene(seed=0, height=29, width=43, block=4):
    """A blocky label with a few classes and 255s, and the image derived from it."""
    rng = np.random.default_rng(seed)
    coarse = rng.choice([0, 1, 2, 3, 255], size=(height // block + 1, width // block + 1),
                        p=[.4, .2, .2, .15, .05])
    label = np.kron(coarse, np.ones((block, block), np.uint8))[:height, :width].astype(np.uint8)
    return _label_image(label), label


def _label_image(label):
    colors = np.asarray(voc_colormap(), np.uint8)
    colors[0] = (30, 200, 90)   # keep every colour away from the mean pixel 127.5
    return colors[label]


def _voc_sample():
    root = shared_path("voc", "VOCdevkit", "VOC2012")
    label = np.asarray(Image.open(root / "SegmentationClass" / "2007_000032.png"))
    image = np.asarray(Image.open(root / "JPEGImages" / "2007_000032.jpg"))
    return image, label


@pytest.mark.parametrize("crop", [CROP, (65, 49)])
def test_fast_path_equals_the_official_steps(crop):
    image, label = _scene()
    for seed in range(24):
        fast = augment.train_preprocess(image, label, [seed, 5], crop)
        reference = augment.train_preprocess_reference(image, label, [seed, 5], crop)
        np.testing.assert_array_equal(fast[0].numpy(), reference[0].numpy())
        np.testing.assert_array_equal(fast[1].numpy(), reference[1].numpy())


def test_fast_path_equals_the_official_steps_on_a_real_voc_image():
    image, label = _voc_sample()
    for seed in range(8):
        fast = augment.train_preprocess(image, label, [seed, 1], (97, 129))
        reference = augment.train_preprocess_reference(image, label, [seed, 1], (97, 129))
        np.testing.assert_array_equal(fast[0].numpy(), reference[0].numpy())
        np.testing.assert_array_equal(fast[1].numpy(), reference[1].numpy())


def test_eager_and_dataset_map_agree():
    image, label = _scene(1)
    seeds = np.array([[s, 11] for s in range(6)], np.int64)
    eager = [augment.train_preprocess(image, label, s, CROP) for s in seeds]
    mapped = tf.data.Dataset.from_tensor_slices(seeds).map(
        lambda s: augment.train_preprocess(image, label, s, CROP))
    for (ei, el), (mi, ml) in zip(eager, mapped):
        np.testing.assert_array_equal(ei.numpy(), mi.numpy())
        np.testing.assert_array_equal(el.numpy(), ml.numpy())
    eager_eval = augment.eval_preprocess(image, label, None, 16)
    mapped_eval = next(iter(tf.data.Dataset.from_tensors((image, label)).map(
        lambda i, l: augment.eval_preprocess(i, l, None, 16))))
    for e, m in zip(eager_eval, mapped_eval):
        np.testing.assert_array_equal(np.asarray(e), m.numpy())


def _check_alignment(image, label, crop, seeds):
    """Bilinear image vs nearest label on a label-derived image: same colour inside regions."""
    colors = np.asarray(_label_image(np.arange(256, dtype=np.uint8)), np.float32)
    height, width = label.shape
    scales, flips = set(), 0
    for seed in seeds:
        out_image, out_label = (t.numpy() for t in augment.train_preprocess(
            image, label, [seed, 3], crop))
        params = augment._random_params(tf.constant([seed, 3]), height, width, crop, 0.5, 2.0,
                                        0.25, True)
        scales.add(float(params[0]))
        flips += int(params[5])
        assert out_image.shape == (*crop, 3) and out_label.shape == crop
        assert set(np.unique(out_label)) <= set(np.unique(label)) | {255}  # nothing invented
        padding = np.all(out_image == 127.5, axis=-1)
        assert np.all(out_label[padding] == 255)               # padding: ignore label
        # Where the source pixel the label comes from is inside a region (its 3x3 source
        # neighbourhood has one label), the bilinear image must have that label's colour:
        # bilinear reads only source pixels within 1 px of it. The mask goes through the
        # same label path with the same seed.
        source_inner = np.ones(label.shape, bool)
        padded = np.pad(label, 1, mode="edge")
        for dy in range(3):
            for dx in range(3):
                source_inner &= padded[dy:dy + height, dx:dx + width] == label
        inner = augment.train_preprocess(image, source_inner.astype(np.uint8), [seed, 3],
                                         crop)[1].numpy() == 1
        assert not np.any(inner & padding) and inner.sum() > 30
        np.testing.assert_allclose(out_image[inner], colors[out_label[inner]], atol=1e-3)
    return scales, flips


def test_labels_stay_aligned_with_a_label_derived_image():
    image, label = _scene(2, 37, 53, block=9)
    scales, flips = _check_alignment(image, label, CROP, range(40))
    assert scales == {0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0}
    assert 5 < flips < 35


def test_real_voc_label_stays_aligned_with_its_label_derived_image():
    _, label = _voc_sample()
    _check_alignment(_label_image(label), label, (129, 129), range(6))


def test_real_voc_labels_are_never_interpolated():
    image, label = _voc_sample()
    for seed in range(6):
        _, out_label = augment.train_preprocess(image, label, [seed, 0], (129, 129))
        assert set(np.unique(out_label.numpy())) <= set(np.unique(label)) | {255}


def test_padding_uses_the_mean_pixel_and_ignore_label():
    image, label = _scene(3, 10, 12)
    mean = (123.68, 116.78, 103.94)   # ImageNet mean of the ResNet backbones: per channel
    out_image, out_label = augment.pad_to_size(image, label, 17, 17, mean, 255)
    assert out_image.shape == (17, 17, 3)
    np.testing.assert_allclose(out_image[10:].numpy().reshape(-1, 3), np.tile(mean, (7 * 17, 1)),
                               atol=1e-5)
    np.testing.assert_array_equal(out_label[:, 12:].numpy(), 255)
    np.testing.assert_allclose(out_image[:10, :12].numpy(), image, atol=1e-4)
    np.testing.assert_array_equal(out_label[:10, :12].numpy(), label)


def test_eval_padding_to_output_stride_crops():
    assert augment.eval_crop_size(500, 375, 16) == (513, 385)
    assert augment.eval_crop_size(513, 33, 16) == (513, 33)
    assert augment.eval_crop_size(1024, 2048, 8) == (1025, 2049)
    image, label = _scene(4, 29, 43)
    out_image, out_label, height, width = augment.eval_preprocess(image, label, None, 16)
    assert out_image.shape == (33, 49, 3) and (int(height), int(width)) == (29, 43)
    np.testing.assert_array_equal(out_label[:29, :43].numpy(), label)
    assert np.all(out_label[29:].numpy() == 255) and np.all(out_image[:, 43:].numpy() == 127.5)
    out = augment.eval_preprocess(image, label, (33, 65), 16)
    assert out[0].shape == (33, 65, 3)
    with pytest.raises(tf.errors.InvalidArgumentError, match="larger than eval_crop_size"):
        augment.eval_preprocess(image, label, (17, 65), 16)

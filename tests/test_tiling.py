"""tiling.py: tiles cover every pixel, one-tile images are unchanged, tiled agrees with whole,
fixed-size .tflite files run tiles of their input size, predict tiles above the threshold."""
import numpy as np
import pytest
from PIL import Image

from deeplab_tf import inference, predict, tiling, viz
from tests.test_inference import _tflite, tiny_model

@pytest.fixture(scope="module")
def keras_pred():
    return inference.predictor_from_keras(tiny_model(num_classes=3))


def _image(shape, seed=0):
    return np.random.default_rng(seed).integers(0, 256, shape + (3,)).astype(np.uint8)


@pytest.mark.parametrize("length,tile,overlap,align", [
    (97, 49, 16, 16), (131, 33, 11, 16), (4001, 513, 171, 16), (35, 9, 3, 16), (50, 49, 0, 1),
    (1000, 257, 86, 8)])
def test_tiles_cover_every_pixel_with_odd_sizes(length, tile, overlap, align):
    starts = tiling.tile_starts(length, tile, overlap, align)
    covered = np.zeros(length, bool)
    for start in starts:
        covered[start:start + tile] = True
    assert covered.all() and starts[0] == 0
    assert all(b - a <= tile - overlap for a, b in zip(starts, starts[1:]))   # overlap kept
    if (tile - overlap) // align:
        assert all(s % align == 0 for s in starts)
    # Blending: every pixel of an odd-sized image gets a weight (no 0/0), probabilities sum to 1.
    image = _image((length % 61 + 40, length % 47 + 50))
    out = tiling.predict_tiled(lambda tiles: [np.full(t.shape[:2] + (2,), 0.5, np.float32)
                                              for t in tiles],
                               image, tiling.Tiling((tile // 4 + 3, tile // 3 + 2), 1 / 3, 0))
    assert out.shape == image.shape[:2] + (2,) and np.allclose(out, 0.5)


def test_images_that_fit_one_tile_are_unchanged(keras_pred):
    small, large = _image((30, 25)), _image((60, 70), 1)
    tiles = tiling.Tiling((33, 33), 1 / 3, 0)
    np.testing.assert_array_equal(
        inference.predict_probabilities(keras_pred, [small], tiling=tiles)[0],
        inference.predict_probabilities(keras_pred, [small])[0])
    below = tiling.Tiling((33, 33), 1 / 3, above_pixels=60 * 70)   # not above the threshold
    np.testing.assert_array_equal(
        inference.predict_labels(keras_pred, [large, small], tiling=below)[0],
        inference.predict_labels(keras_pred, [large])[0])


def test_tiled_agrees_with_whole_and_composes_with_scales_and_flips(keras_pred):
    # A smooth image (noise upsampled, as photos are smooth): labels in regions, not speckle.
    image = np.asarray(Image.fromarray(_image((10, 13))).resize((131, 97), Image.BILINEAR))
    tiles = tiling.Tiling((49, 49), 1 / 3, 0)
    whole = inference.predict_probabilities(keras_pred, [image])[0]
    tiled = inference.predict_probabilities(keras_pred, [image], tiling=tiles)[0]
    assert tiled.shape == whole.shape and tiled.dtype == np.float32
    np.testing.assert_allclose(tiled.sum(-1), 1.0, atol=1e-5)
    assert (tiled.argmax(-1) == whole.argmax(-1)).mean() >= 0.99
    labels = inference.predict_labels(keras_pred, [image], tiling=tiles)[0]   # band argmax
    np.testing.assert_array_equal(labels, tiled.argmax(-1))
    multi = inference.predict_probabilities(keras_pred, [image], eval_scales=(0.5, 1.0),
                                            add_flipped_images=True, tiling=tiles)[0]
    whole_multi = inference.predict_probabilities(keras_pred, [image], eval_scales=(0.5, 1.0),
                                                  add_flipped_images=True)[0]
    np.testing.assert_allclose(multi.sum(-1), 1.0, atol=1e-5)
    # Lower: the 0.5 scale and the flip of a tile sample other grid points than the whole's.
    assert (multi.argmax(-1) == whole_multi.argmax(-1)).mean() >= 0.95


def test_fixed_size_tflite_runs_tiles_of_its_input_size(keras_pred, tmp_path):
    lite = inference.load_predictor(_tflite(keras_pred.model, tmp_path / "m.tflite"))
    image = _image((70, 90), 2)
    auto = tiling.Tiling(above_pixels=0)
    assert tiling.for_predictor(auto, lite).tile == (33, 33)
    got = inference.predict_probabilities(lite, [image], tiling=auto)[0]
    ref = inference.predict_probabilities(keras_pred, [image], crop_size=(33, 33),
                                          tiling=tiling.Tiling((33, 33), above_pixels=0))[0]
    assert got.shape == (70, 90, 3)
    np.testing.assert_allclose(got, ref, atol=1e-4)
    labels_only = inference.load_predictor(
        _tflite(keras_pred.model, tmp_path / "argmax.tflite", argmax=True))
    labels = inference.predict_labels(labels_only, [image], tiling=auto)[0]
    assert labels.shape == (70, 90) and (labels == ref.argmax(-1)).mean() >= 0.95
    with pytest.raises(ValueError, match=r"--tile=49,49 is larger than the fixed input size "
                                         r"33x33 of .*m\.tflite"):
        tiling.for_predictor(tiling.Tiling((49, 49)), lite)


def test_predict_tiles_above_the_threshold_instead_of_refusing(tmp_path):
    pred = inference.predictor_from_keras(tiny_model(num_classes=21))
    paths = []
    for i, shape in enumerate(((60, 75), (30, 25))):
        paths.append(str(tmp_path / f"photo{i}.png"))
        Image.fromarray(_image(shape, i)).save(paths[-1])
    tiles = tiling.Tiling((33, 33), 1 / 3, above_pixels=1000)   # 60x75 is tiled, 30x25 not
    written = predict.predict_files(pred, paths, tmp_path / "out", colours=viz.palette(),
                                    progress=False, max_pixels=1000, tiling=tiles)
    images = [predict.read_image(p) for p in paths]
    expected = inference.predict_labels(pred, images, tiling=tiles)
    for mask_path, image, labels in zip(written, images, expected):
        mask = np.asarray(Image.open(mask_path))
        assert mask.shape == image.shape[:2]
        np.testing.assert_array_equal(mask, labels)
    assert not np.array_equal(expected[0], inference.predict_labels(pred, images[:1])[0])


@pytest.mark.parametrize("values,message", [
    (("12x4", 0.3, 0), r"--tile=12x4: expected HEIGHT,WIDTH"),
    (("33,33", 0.95, 0), r"--tile_overlap=0.95: expected a fraction"),
    (("auto", 0.3, -1), r"--tile_above_pixels=-1 must be >= 0")])
def test_bad_tile_flags_name_the_flag(values, message):
    with pytest.raises(ValueError, match=message):
        tiling.from_flag_values(*values)
    assert tiling.from_flag_values("0", 0.3, 0) is None
    assert tiling.from_flag_values("65", 0.25, 7) == tiling.Tiling((65, 65), 0.25, 7)

"""Tiled (sliding-window) inference for images larger than a tile, in bounded memory.

    tiling = Tiling(tile=(513, 513), overlap=1/3, above_pixels=4 * 2**20)
    probs = inference.predict_probabilities(predictor, images, tiling=tiling)
    labels = inference.predict_labels(predictor, images, tiling=tiling)   # argmax per band

The official DeepLab evaluates whole images (padded to eval_crop_size); sliding-window
evaluation with overlapping tiles is the usual way to segment larger inputs (PSPNet's
"sliding evaluation" on Cityscapes). An image with more than `above_pixels` pixels is cut into
tiles of `tile` (clipped to the image) whose starts are spread evenly over each axis so that
neighbours overlap by at least `overlap` of a tile; every tile goes through
inference.predict_probabilities (padding, multi-scale + flip, crop back), and the tiles'
probabilities are blended by a weighted average.

Blending window: a separable ramp that is 1 in the tile's centre and falls linearly to
1/(ramp+1) over the `ramp` pixels nearest each edge (ramp = the overlap). A pixel near a tile's
edge sees only one side of its context there (the rest is padding, and image pooling averages
over a different crop), so the neighbour that holds it nearer its centre should count more; in
an overlap of exactly the ramp's length the two ramps cross-fade linearly. A plain average
would weigh the border predictions as much as central ones and leave visible seams. Weights are
never 0, so pixels that one tile alone covers take exactly its probabilities.

Multi-scale and flips compose with tiling per tile: each window of the image is evaluated at
every scale and flip and the averaged probabilities are blended. (Scaling the whole image first
and tiling the scaled copy would need the full-resolution probabilities of every scale, e.g.
7000x5250x21 floats at scale 1.75 of a 4000x3000 photo, which tiling exists to avoid.)

Memory: tiles are processed one row of tiles at a time, accumulated into a band of tile-height
rows ([tile_h, W, C] sums plus a [tile_h, W] weight map); the rows no later tile touches are
finished (divided by the weight, or reduced to their argmax when only labels are wanted) before
the next row of tiles runs. predict_labels therefore never holds a whole-image probability
array. Label-only models (ArgMax inside) are tiled too: each pixel takes the label of the tile
whose window weighs it most.
"""
import dataclasses
import math
from typing import Optional, Tuple

import numpy as np

DEFAULT_TILE = (513, 513)   # the official eval crop size: the context the models were trained at
DEFAULT_OVERLAP = 1 / 3
# Above 4 megapixels (2048x2048) images are tiled: Cityscapes' 2048x1024 frames still run whole
# as in the official evaluation, and one whole pass (about 0.65 GB per megapixel) stays < 3 GB.
DEFAULT_ABOVE_PIXELS = 2048 * 2048


@dataclasses.dataclass(frozen=True)
class Tiling:
    """tile: (H, W) of a tile, None: DEFAULT_TILE or a fixed-size model's input size (see
    for_predictor); overlap: fraction of a tile shared with each neighbour (0..0.9);
    above_pixels: only images with more pixels than this are tiled (0: every image larger
    than a tile)."""
    tile: Optional[Tuple[int, int]] = None
    overlap: float = DEFAULT_OVERLAP
    above_pixels: int = DEFAULT_ABOVE_PIXELS

    def __post_init__(self):
        if self.tile is not None and (len(self.tile) != 2 or min(self.tile) < 2):
            raise ValueError(f"tile={self.tile}: expected (HEIGHT, WIDTH) of at least 2 pixels")
        if not 0 <= self.overlap <= 0.9:
            raise ValueError(f"tile overlap={self.overlap}: expected a fraction in 0..0.9")
        if self.above_pixels < 0:
            raise ValueError(f"tile above_pixels={self.above_pixels} must be >= 0")

    def applies(self, shape):
        """True when an image of this shape is tiled (more than one tile)."""
        height, width = shape[:2]
        return (height * width > self.above_pixels
                and (height > self.tile[0] or width > self.tile[1]))


def for_predictor(tiling, predictor):
    """The tiling a predictor can run: a fixed-size model (.tflite, a Keras model built for one
    size) takes tiles of its own input size unless a smaller tile is asked for. Returns the
    Tiling with its tile resolved (None: no tiling)."""
    if tiling is None:
        return None
    if predictor.fixed_size is None:
        return tiling if tiling.tile else dataclasses.replace(tiling, tile=DEFAULT_TILE)
    fixed = tuple(predictor.fixed_size)
    if tiling.tile is None:
        return dataclasses.replace(tiling, tile=fixed)
    if tiling.tile[0] > fixed[0] or tiling.tile[1] > fixed[1]:
        raise ValueError(f"--tile={tiling.tile[0]},{tiling.tile[1]} is larger than the fixed "
                         f"input size {fixed[0]}x{fixed[1]} of {predictor.path}; use a tile of "
                         "at most that size (the default is the input size)")
    return tiling


def tile_starts(length, tile, overlap, align=1):
    """Starts of tiles of size `tile` covering 0..length-1: multiples of `align`, spread evenly
    so that neighbours share at least `overlap` pixels; the last tile reaches `length` (it is
    clipped there by less than `align` pixels).

    align is the output stride: a tile starting at a multiple of it samples the same stride
    grid (and align_corners arithmetic) as the whole image padded from its top-left corner, so
    a pixel far from every tile edge gets the whole-image result.
    """
    if length <= tile:
        return [0]
    if (tile - overlap) // align < 1:   # tiles smaller than a stride step: no alignment
        align = 1
    units = math.ceil((length - tile) / align)       # the last start, in steps of `align`
    step = max((tile - overlap) // align, 1)          # the longest step keeping the overlap
    count = math.ceil(units / step) + 1
    return [round(i * units / (count - 1)) * align for i in range(count)]


def window(length, ramp):
    """1-D blending weights: 1 in the centre, falling linearly to 1/(ramp+1) at both edges."""
    distance = np.minimum(np.arange(length), np.arange(length)[::-1])
    return np.minimum(1.0, (distance + 1) / (ramp + 1)).astype(np.float32)


def predict_tiled(run_tiles, image, tiling, *, labels_only=False, label_model=False, align=1):
    """Blends per-tile outputs of one image [H, W, 3].

    Args:
      run_tiles: list of tiles [h, w, 3] -> list of [h, w, C] probabilities (or [h, w] labels
        with label_model).
      labels_only: return int32 [H, W] argmax labels, finished band by band, instead of
        float32 [H, W, C] probabilities.
      align: tile starts are multiples of it (the output stride; see tile_starts).
    """
    height, width = image.shape[:2]
    th, tw = min(tiling.tile[0], height), min(tiling.tile[1], width)
    ramp_h, ramp_w = round(th * tiling.overlap), round(tw * tiling.overlap)
    ys = tile_starts(height, th, ramp_h, align)
    xs = tile_starts(width, tw, ramp_w, align)
    band_w = np.zeros((th, width), np.float32)
    band = out = None
    base = 0

    def finish(rows):
        """Writes band rows [0, rows) to the output at image rows base.."""
        if label_model or labels_only:
            done = band[:rows] if label_model else band[:rows].argmax(-1)
            out[base:base + rows] = done
        else:
            out[base:base + rows] = band[:rows] / band_w[:rows, :, None]

    for y in ys:
        shift = y - base
        if band is not None and shift:
            finish(shift)
            band[:th - shift], band_w[:th - shift] = band[shift:], band_w[shift:]
            band[th - shift:], band_w[th - shift:] = 0, 0
        base = y
        results = run_tiles([image[y:y + th, x:x + tw] for x in xs])
        for x, result in zip(xs, results):
            h, w = result.shape[:2]   # the last tile of a row or column may be clipped
            weight_tile = window(h, ramp_h)[:, None] * window(w, ramp_w)[None, :]
            if band is None:   # the number of classes is known from the first tile
                if label_model:
                    band = np.zeros((th, width), np.int32)
                    out = np.zeros((height, width), np.int32)
                else:
                    band = np.zeros((th, width, result.shape[-1]), np.float32)
                    out = np.zeros((height, width) + (() if labels_only else
                                                      (result.shape[-1],)),
                                   np.int32 if labels_only else np.float32)
            region_w = band_w[:h, x:x + w]
            if label_model:   # the label of the tile whose window weighs the pixel most
                better = weight_tile > region_w
                band[:h, x:x + w][better] = result[better]
                np.maximum(region_w, weight_tile, out=region_w)
            else:
                band[:h, x:x + w] += result * weight_tile[..., None]
                region_w += weight_tile
    finish(height - base)
    return out


def predict_many(images, tiling, run_whole, run_tiles, **kwargs):
    """Runs the images `tiling` applies to through predict_tiled (one at a time, so memory is
    one image's; tiles are cut from the image as given, e.g. uint8), the others together
    through run_whole(list) -> list; keeps the order."""
    tiled = [tiling is not None and tiling.applies(im.shape) for im in images]
    rest = run_whole([im for im, t in zip(images, tiled) if not t]) if not all(tiled) else []
    rest = iter(rest)
    return [predict_tiled(run_tiles, im, tiling, **kwargs) if t else next(rest)
            for im, t in zip(images, tiled)]


def parse_tile_flag(value, flag="tile"):
    """ "auto" -> "auto" (DEFAULT_TILE, or a fixed-size model's input size), "0" -> None
    (off), "H,W" or "N" -> (H, W); ValueError naming the flag otherwise."""
    value = str(value).strip()
    if value in ("auto", "0"):
        return None if value == "0" else "auto"
    try:
        sizes = [int(v) for v in value.split(",")]
    except ValueError:
        sizes = []
    sizes = sizes * 2 if len(sizes) == 1 else sizes
    if len(sizes) != 2 or min(sizes) < 2:
        raise ValueError(f"--{flag}={value}: expected HEIGHT,WIDTH (e.g. 513,513), auto, or 0 "
                         "to run whole images")
    return tuple(sizes)


def from_flag_values(tile, overlap, above_pixels) -> Optional[Tiling]:
    """A Tiling from the --tile, --tile_overlap and --tile_above_pixels values (None: off)."""
    size = parse_tile_flag(tile)
    if size is None:
        return None
    if not 0 <= overlap <= 0.9:
        raise ValueError(f"--tile_overlap={overlap}: expected a fraction in 0..0.9")
    if above_pixels < 0:
        raise ValueError(f"--tile_above_pixels={above_pixels} must be >= 0")
    return Tiling(None if size == "auto" else size, overlap, above_pixels)

"""Label statistics of a prepared split and the class weightings computed from them.

prepare.py sums, per split, the pixels of each class (`class_pixels`) and, for each class, the
labelled pixels of the images in which it appears (`class_image_pixels`); they are kept in the
prepared folder's INFO_FILE. From them:
  median_frequency       SegNet (Badrinarayanan et al., TPAMI 2017) after Eigen & Fergus
                         (ICCV 2015): w_c = median(f) / f_c, f_c = class_pixels_c /
                         class_image_pixels_c (the frequency of c in the images where c occurs).
  inverse_log_frequency  ENet (Paszke et al., 2016): w_c = 1 / ln(1.02 + p_c), p_c =
                         class_pixels_c / all labelled pixels.
A class with no pixels in the split gets weight 0 (it contributes no loss anyway). Nothing
here imports TensorFlow.
"""
import numpy as np

WEIGHTINGS = ("median_frequency", "inverse_log_frequency")
ENET_C = 1.02


def example_statistics(class_pixels):
    """Statistics of one label from its per-class pixel counts."""
    counts = np.asarray(class_pixels, np.int64)
    labelled = int(counts.sum())
    return {"class_pixels": counts.tolist(),
            "class_image_pixels": np.where(counts > 0, labelled, 0).tolist(),
            "labelled_pixels": labelled, "num_examples": 1}


def add_statistics(total, stats):
    """The sum of two statistics dicts (None is the empty sum)."""
    if total is None:
        return dict(stats)
    return {key: (np.add(total[key], stats[key]).tolist() if isinstance(total[key], list)
                  else total[key] + stats[key]) for key in stats}


def median_frequency_weights(stats):
    pixels = np.asarray(stats["class_pixels"], np.float64)
    image_pixels = np.asarray(stats["class_image_pixels"], np.float64)
    present = pixels > 0
    if not present.any():
        raise ValueError("the split has no labelled pixels; class weights need some")
    frequency = np.where(present, pixels / np.maximum(image_pixels, 1), 0.0)
    median = np.median(frequency[present])
    return tuple(float(w) for w in np.where(present, median / np.maximum(frequency, 1e-30), 0.0))


def inverse_log_frequency_weights(stats, c=ENET_C):
    pixels = np.asarray(stats["class_pixels"], np.float64)
    total = pixels.sum()
    if total <= 0:
        raise ValueError("the split has no labelled pixels; class weights need some")
    weights = 1.0 / np.log(c + pixels / total)
    return tuple(float(w) for w in np.where(pixels > 0, weights, 0.0))


def class_weights(weighting, stats):
    """The weights of `weighting` (one of WEIGHTINGS) from a split's statistics."""
    if weighting == "median_frequency":
        return median_frequency_weights(stats)
    if weighting == "inverse_log_frequency":
        return inverse_log_frequency_weights(stats)
    raise ValueError(f"class weighting {weighting!r}; expected one of {list(WEIGHTINGS)} or a "
                     "list of numbers")


def format_statistics(stats, class_names):
    """A table (lines of text): per class its pixels, share, images and both weightings."""
    pixels = np.asarray(stats["class_pixels"], np.float64)
    total = max(pixels.sum(), 1)
    median = median_frequency_weights(stats)
    enet = inverse_log_frequency_weights(stats)
    width = max(len(n) for n in class_names)
    lines = [f"{'class':<{width}}  {'pixels':>12}  {'share':>7}  {'median_freq':>11}  "
             f"{'inv_log_freq':>12}"]
    for name, count, m, e in zip(class_names, pixels, median, enet):
        lines.append(f"{name:<{width}}  {int(count):>12,}  {100 * count / total:>6.2f}%  "
                     f"{m:>11.4f}  {e:>12.4f}")
    lines.append(f"{stats['num_examples']} examples, {int(stats['labelled_pixels']):,} labelled "
                 "pixels")
    return lines

"""Fully connected CRF refinement (DeepLab v1/v2) through pydensecrf.

Kraehenbuehl & Koltun, "Efficient Inference in Fully Connected CRFs with Gaussian Edge
Potentials", NIPS 2011; used by DeepLab v1 (arXiv 1412.7062, section 4) and v2 (arXiv
1606.00915, section 3.3). Energy per pixel labelling x:

    E(x) = sum_i -log P(x_i)                                      (unary: the network's softmax)
         + sum_ij [x_i != x_j] * ( w1 exp(-|p_i-p_j|^2/2 theta_alpha^2 - |I_i-I_j|^2/2 theta_beta^2)
                                 + w2 exp(-|p_i-p_j|^2/2 theta_gamma^2) )

(bilateral + Gaussian kernels, Potts compatibility), minimised approximately by 10 mean-field
iterations. pydensecrf's addPairwiseBilateral(sxy=theta_alpha, srgb=theta_beta, compat=w1) and
addPairwiseGaussian(sxy=theta_gamma, compat=w2) are exactly these kernels with Potts weights.

The `pydensecrf` module comes from the `pydensecrf2` distribution (the PyPI `pydensecrf` 1.0rc3
does not build on Python 3.11). It needs C-contiguous arrays: uint8 [H, W, 3] image and float32
[C, H*W] unary energies.

Images are refined in parallel with a process pool (pydensecrf holds the GIL, so threads would
not help); CRFRefiner keeps one pool alive across batches. Measured times are in BUILD_NOTES.md
(the v1/v2 papers quote about 0.5 s per VOC image for 10 iterations).
"""
import concurrent.futures
import dataclasses
import multiprocessing
import os

import numpy as np


@dataclasses.dataclass(frozen=True)
class CRFParams:
    """DenseCRF hyper-parameters (names as in the DeepLab v2 paper, eq. 2)."""
    w1: float = 4.0             # bilateral (appearance) kernel weight
    theta_alpha: float = 67.0   # bilateral spatial std, pixels
    theta_beta: float = 3.0     # bilateral colour std, RGB units 0..255
    w2: float = 3.0             # Gaussian (smoothness) kernel weight
    theta_gamma: float = 1.0    # Gaussian spatial std, pixels
    iterations: int = 10        # mean-field iterations (v1/v2 papers: 10)


# DeepLab v2 released values (the Caffe densecrf layer settings of the official v2 models, see
# ../shared/REFERENCE.md): ResNet-101 bi_w=4, bi_xy_std=67, bi_rgb_std=3, pos_w=3, pos_xy_std=1;
# VGG-16 bi_w=4, bi_xy_std=121, bi_rgb_std=5, pos_w=3, pos_xy_std=3. Other backbones (v3/v3+ used
# no CRF) take the ResNet-101 values.
CRF_DEFAULTS = {
    "resnet101": CRFParams(w1=4, theta_alpha=67, theta_beta=3, w2=3, theta_gamma=1),
    "vgg16": CRFParams(w1=4, theta_alpha=121, theta_beta=5, w2=3, theta_gamma=3),
}


def default_params(backbone=None):
    """CRFParams for a backbone name ("vgg16" -> the VGG values, anything else -> ResNet-101)."""
    return CRF_DEFAULTS["vgg16" if backbone == "vgg16" else "resnet101"]


def dense_crf(image, probabilities, params=CRFParams()):
    """Refines one image's class probabilities with the fully connected CRF.

    Args:
      image: uint8 (or 0..255 float) RGB [H, W, 3].
      probabilities: float [H, W, C] softmax output at image size (rows sum to 1).
      params: CRFParams.
    Returns:
      float32 [H, W, C]: the mean-field marginals Q after params.iterations iterations.
    """
    import pydensecrf.densecrf as dcrf

    image = np.asarray(image)
    probabilities = np.asarray(probabilities, np.float32)
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"CRF image must be [H, W, 3] RGB, got shape {image.shape}")
    if probabilities.ndim != 3 or probabilities.shape[:2] != image.shape[:2]:
        raise ValueError(
            f"CRF probabilities shape {probabilities.shape} does not match image shape "
            f"{image.shape}: expected [H, W, C] at image size")
    height, width, num_classes = probabilities.shape
    # Unary energy = -log P, clipped so log(0) cannot appear; [C, H*W] C-contiguous float32.
    unary = -np.log(np.clip(probabilities, 1e-8, 1.0)).reshape(-1, num_classes).T
    crf = dcrf.DenseCRF2D(width, height, num_classes)
    crf.setUnaryEnergy(np.ascontiguousarray(unary, dtype=np.float32))
    crf.addPairwiseGaussian(sxy=params.theta_gamma, compat=params.w2)
    crf.addPairwiseBilateral(
        sxy=params.theta_alpha, srgb=params.theta_beta,
        rgbim=np.ascontiguousarray(np.clip(image, 0, 255).astype(np.uint8)), compat=params.w1)
    q = np.asarray(crf.inference(int(params.iterations)), np.float32)
    return q.T.reshape(height, width, num_classes)


def probabilities_from_labels(labels, num_classes, confidence=0.7, unknown=None):
    """Soft probabilities from a hard labelling (as in pydensecrf's demo, gt_prob=0.7).

    Args:
      labels: int [H, W]; pixels equal to `unknown` get a uniform distribution.
    Returns:
      float32 [H, W, num_classes].
    """
    labels = np.asarray(labels)
    rest = (1.0 - confidence) / max(num_classes - 1, 1)
    probs = np.full(labels.shape + (num_classes,), rest, np.float32)
    known = np.ones(labels.shape, bool) if unknown is None else labels != unknown
    rows, cols = np.nonzero(known)
    probs[rows, cols, labels[known]] = confidence
    probs[~known] = 1.0 / num_classes
    return probs


def _refine_one(args):
    image, probabilities, params = args
    return dense_crf(image, probabilities, params)


def _pool_context():
    # "fork" where it exists (Linux): workers start instantly and, unlike "spawn"/"forkserver",
    # never re-run the caller's __main__ script (a plain script without an
    # `if __name__ == "__main__"` guard would otherwise crash). Workers only run numpy and
    # pydensecrf, never TensorFlow, so TensorFlow's threads in the parent are not a problem.
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("fork" if "fork" in methods else "spawn")


class CRFRefiner:
    """Refines many images in parallel; keep one for a whole evaluation.

        with CRFRefiner(params, processes=2) as crf:
            refined = crf.refine(images, probabilities)   # lists of [H, W, 3] / [H, W, C]

    processes=None uses every CPU core; processes=1 runs in this process (no pool).
    """

    def __init__(self, params=CRFParams(), processes=None):
        self.params = params
        self.processes = processes or os.cpu_count() or 1
        self._pool = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None

    def refine(self, images, probabilities):
        """images: sequence of [H_i, W_i, 3]; probabilities: sequence of [H_i, W_i, C].
        Returns a list of float32 [H_i, W_i, C] refined marginals, in order."""
        jobs = [(im, pr, self.params) for im, pr in zip(images, probabilities)]
        if len(jobs) != len(images) or len(jobs) != len(probabilities):
            raise ValueError(f"{len(images)} images but {len(probabilities)} probability maps")
        if self.processes == 1 or len(jobs) == 1:
            return [_refine_one(job) for job in jobs]
        if self._pool is None:
            self._pool = concurrent.futures.ProcessPoolExecutor(
                self.processes, mp_context=_pool_context())
        return list(self._pool.map(_refine_one, jobs))


def refine(images, probabilities, params=CRFParams(), processes=None):
    """One-shot parallel refinement; see CRFRefiner."""
    with CRFRefiner(params, processes) as crf:
        return crf.refine(images, probabilities)

"""TF1 checkpoints with official variable names (the DeepLab model zoo) <-> OfficialWeights.

A model zoo tarball (e.g. deeplabv3_mnv2_pascal_train_aug_2018_01_29.tar.gz) unpacks to a
folder with model.ckpt-N.index / .data-*; tf.train.load_checkpoint reads it by variable name
("MobilenetV2/expanded_conv_3/depthwise/depthwise_weights", "aspp0/BatchNorm/gamma", ...).
Variables are already in TF layouts, which are also Keras layouts. BatchNorm is not folded.

The ImageNet classification checkpoints come in the same naming but other packings: DeepLab's
(research/deeplab/g3doc/model_zoo.md) as <folder>/model.ckpt.*, MobileNetV2's
(research/slim/nets/mobilenet/README.md) as mobilenet_v2_1.0_224.ckpt.* at the top level of a
.tgz, and slim's 2016 ResNets (research/slim/README.md) as one V1-format file
resnet_v1_101.ckpt (TF1's first checkpoint format: no .index, no .data-*).
"""
import pathlib
import shutil
import tarfile

import numpy as np
import tensorflow as tf

from deeplab_tf.weights.official import IGNORED, OfficialWeights, OfficialWeightsError


def _extract(path, target):
    """Unpacks a tarball into `target` through a temporary folder, so an interrupted unpack
    (these files are hundreds of MB) is never mistaken for a finished one. Members are
    checked first (paths, links, sizes: deeplab_tf.data.archive)."""
    from deeplab_tf.data import archive as archive_lib
    partial = target.with_name(target.name + ".part")
    shutil.rmtree(partial, ignore_errors=True)
    try:
        archive_lib.check_members(str(path))
        with tarfile.open(path) as archive:
            archive.extractall(partial, filter="data")
    except archive_lib.ArchiveError as error:
        shutil.rmtree(partial, ignore_errors=True)
        raise OfficialWeightsError(str(error)) from None
    except (tarfile.TarError, EOFError, OSError) as error:
        shutil.rmtree(partial, ignore_errors=True)
        raise OfficialWeightsError(f"{path} is not a readable tarball ({type(error).__name__}: "
                                   f"{str(error).splitlines()[0] if str(error) else ''})") \
            from None
    partial.rename(target)


def checkpoint_prefix(path):
    """Resolves a checkpoint prefix, a folder holding one, or a model zoo .tar.gz / .tgz.

    A tarball is unpacked beside itself (into "<name>.extracted/") once. In a folder the
    checkpoint is found at any depth: the latest of a "checkpoint" state file, else the last
    "*.index" (V2), else the last "*.ckpt" file (V1).
    """
    path = pathlib.Path(path)
    if path.is_file() and path.name.endswith((".tar.gz", ".tgz", ".tar")):
        target = path.with_name(path.name.split(".tar")[0].split(".tgz")[0] + ".extracted")
        if not target.exists():
            _extract(path, target)
        path = target
    if path.is_dir():
        latest = tf.train.latest_checkpoint(str(path))
        if latest:
            return latest
        indexes = sorted(path.rglob("*.index"))
        if indexes:
            return str(indexes[-1])[:-len(".index")]
        singles = sorted(p for p in path.rglob("*.ckpt") if p.is_file())
        if singles:
            return str(singles[-1])
        raise OfficialWeightsError(f"{path}: no TF checkpoint (*.index, or a V1 *.ckpt file) "
                                   "found in the folder")
    if path.name.endswith(".index"):
        return str(path)[:-len(".index")]
    return str(path)


def read_checkpoint(path):
    """Reads every model variable of an official TF1 checkpoint.

    Args:
      path: checkpoint prefix, folder or model zoo tarball.
    Returns:
      OfficialWeights(folded=False) with float32 arrays under the official names
      (optimizer slots, EMA copies and global_step dropped; their names in info["ignored"]).
    Raises:
      OfficialWeightsError if the checkpoint cannot be read.
    """
    prefix = checkpoint_prefix(path)
    try:
        reader = tf.train.load_checkpoint(prefix)
    except (tf.errors.NotFoundError, tf.errors.DataLossError, ValueError) as error:
        raise OfficialWeightsError(
            f"{path} is not a readable TF checkpoint ({type(error).__name__}: "
            f"{str(error).splitlines()[0]})") from None
    dtypes = reader.get_variable_to_dtype_map()
    names = [n for n, dtype in dtypes.items() if not IGNORED.search(n) and dtype.is_floating]
    tensors = {n: np.asarray(reader.get_tensor(n), np.float32) for n in names}
    if not tensors:
        raise OfficialWeightsError(f"{prefix}: the checkpoint holds no float variables")
    return OfficialWeights(tensors=tensors, folded=False,
                           info={"source": str(path), "format": "checkpoint",
                                 "ignored": sorted(set(dtypes) - set(names))})


def write_checkpoint(tensors, prefix, v1=False):
    """Writes {official name: array} as a TF checkpoint keyed by those names, as the model
    zoo's TF1 Saver checkpoints are (tf.train.Checkpoint would key by object paths instead).

    Uses the SaveV2 op directly (the op a TF1 Saver runs), which is fast and graph-free; with
    v1=True the Save op, which writes the single-file V1 format of slim's 2016 checkpoints.
    Returns:
      the checkpoint prefix written (with v1=True: the file).
    """
    pathlib.Path(prefix).parent.mkdir(parents=True, exist_ok=True)
    names = sorted(tensors)
    values = [tf.constant(np.asarray(tensors[n])) for n in names]
    if v1:
        tf.raw_ops.Save(filename=str(prefix), tensor_names=names, data=values)
    else:
        tf.raw_ops.SaveV2(prefix=str(prefix), tensor_names=names,
                          shape_and_slices=[""] * len(names), tensors=values)
    return str(prefix)

"""TF1 checkpoints with official variable names (the DeepLab model zoo) <-> OfficialWeights.

A model zoo tarball (e.g. deeplabv3_mnv2_pascal_train_aug_2018_01_29.tar.gz) unpacks to a
folder with model.ckpt-N.index / .data-*; tf.train.load_checkpoint reads it by variable name
("MobilenetV2/expanded_conv_3/depthwise/depthwise_weights", "aspp0/BatchNorm/gamma", ...).
Variables are already in TF layouts, which are also Keras layouts. BatchNorm is not folded.
"""
import pathlib
import tarfile

import numpy as np
import tensorflow as tf

from deeplab_tf.weights.official import IGNORED, OfficialWeights, OfficialWeightsError


def checkpoint_prefix(path):
    """Resolves a checkpoint prefix, a folder holding one, or a model zoo .tar.gz.

    A tarball is unpacked beside itself (into "<name>.extracted/") once.
    """
    path = pathlib.Path(path)
    if path.is_file() and path.name.endswith((".tar.gz", ".tgz", ".tar")):
        target = path.with_name(path.name.split(".tar")[0].split(".tgz")[0] + ".extracted")
        if not target.exists():
            with tarfile.open(path) as archive:
                if hasattr(tarfile, "data_filter"):  # refuses absolute paths and links out
                    archive.extractall(target, filter="data")
                else:  # Python < 3.11.4: check member paths ourselves
                    for member in archive.getmembers():
                        if member.name.startswith("/") or ".." in member.name.split("/"):
                            raise OfficialWeightsError(f"{path}: unsafe member {member.name!r}")
                    archive.extractall(target)
        path = target
    if path.is_dir():
        latest = tf.train.latest_checkpoint(str(path))
        if latest:
            return latest
        indexes = sorted(path.rglob("*.index"))
        if not indexes:
            raise OfficialWeightsError(f"{path}: no TF checkpoint (*.index) found in the folder")
        return str(indexes[-1])[:-len(".index")]
    if path.name.endswith(".index"):
        return str(path)[:-len(".index")]
    return str(path)


def read_checkpoint(path):
    """Reads every model variable of an official TF1 checkpoint.

    Args:
      path: checkpoint prefix, folder or model zoo tarball.
    Returns:
      OfficialWeights(folded=False) with float32 arrays under the official names
      (optimizer slots, EMA copies and global_step dropped).
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
    names = [n for n, dtype in reader.get_variable_to_dtype_map().items()
             if not IGNORED.search(n) and dtype.is_floating]
    tensors = {n: np.asarray(reader.get_tensor(n), np.float32) for n in names}
    if not tensors:
        raise OfficialWeightsError(f"{prefix}: the checkpoint holds no float variables")
    return OfficialWeights(tensors=tensors, folded=False,
                           info={"source": str(path), "format": "checkpoint"})


def write_checkpoint(tensors, prefix):
    """Writes {official name: array} as a TF checkpoint keyed by those names, as the model
    zoo's TF1 Saver checkpoints are (tf.train.Checkpoint would key by object paths instead).

    Uses the SaveV2 op directly (the op a TF1 Saver runs), which is fast and graph-free.
    Returns:
      the checkpoint prefix written.
    """
    pathlib.Path(prefix).parent.mkdir(parents=True, exist_ok=True)
    names = sorted(tensors)
    tf.raw_ops.SaveV2(prefix=str(prefix), tensor_names=names,
                      shape_and_slices=[""] * len(names),
                      tensors=[tf.constant(np.asarray(tensors[n])) for n in names])
    return str(prefix)

"""Checkpoints: exact resume, architecture checks, and weight transfer by layer name.

A run's model_dir holds tf.train.Checkpoint files (model, optimizer with its slots and
iteration count, the step, and the input iterator, so a resumed run sees the same batches) and
model_signature.json, which names the architecture (preset, classes, output stride, overrides)
and the shape of every weight. Resuming or initialising from a checkpoint of another
architecture fails with a clear error before training starts.
"""
import json
import os

import numpy as np
import tensorflow as tf

SIGNATURE_FILE = "model_signature.json"


class ArchitectureMismatch(ValueError):
    """A checkpoint does not fit the model being trained."""


def model_signature(model, model_config, num_classes, input_size=None):
    """The architecture of a run. input_size: the training crop (H, W), the model's own input
    size for a fixed-size export (deeplab_tf.model_metadata says why the crop)."""
    return {
        "preset": model_config.preset,
        "num_classes": int(num_classes),
        "output_stride": model_config.output_stride,
        "overrides": [[k, v] for k, v in model_config.overrides],
        "input_size": None if input_size is None else [int(v) for v in input_size],
        "weights": {w.path: list(w.shape) for w in model.weights},
    }


def write_signature(model_dir, signature):
    tf.io.gfile.makedirs(model_dir)
    with tf.io.gfile.GFile(os.path.join(model_dir, SIGNATURE_FILE), "w") as f:
        json.dump(signature, f, indent=1)


def read_signature(checkpoint_dir):
    path = os.path.join(checkpoint_dir, SIGNATURE_FILE)
    if not tf.io.gfile.exists(path):
        return None
    with tf.io.gfile.GFile(path) as f:
        return json.load(f)


def describe(signature):
    return (f"preset={signature['preset']} num_classes={signature['num_classes']} "
            f"output_stride={signature['output_stride']} overrides={signature['overrides']}")


def check_same_architecture(found, expected, where):
    """Raises ArchitectureMismatch naming both architectures when weights differ."""
    if found is None:
        return
    a = {k: list(v) for k, v in found["weights"].items()}
    b = {k: list(v) for k, v in expected["weights"].items()}
    if a != b:
        keys = sorted(set(a) | set(b))
        first = next(k for k in keys if a.get(k) != b.get(k))
        raise ArchitectureMismatch(
            f"checkpoint in {where} was written for another architecture ({describe(found)}) "
            f"than the model being trained ({describe(expected)}); first differing weight: "
            f"{first} {a.get(first, 'absent')} vs {b.get(first, 'absent')}. Use a new "
            "--model_dir, or --init=checkpoint:PATH to start from it.")


def make_checkpoint(model, optimizer, step, iterator=None):
    # "model_variables" lists every Keras variable explicitly: the object graph Keras exposes
    # through `model` misses the dropout SeedGenerator states, without which a resumed run
    # would draw other dropout masks than an uninterrupted one.
    items = {"model": model, "optimizer": optimizer, "step": step,
             "model_variables": [v.value for v in model.variables]}
    if iterator is not None:
        items["iterator"] = iterator
    return tf.train.Checkpoint(**items)


class CorruptCheckpoint(ValueError):
    """No checkpoint of a run can be read (each is named with its error)."""


def remove_stale_files(folder):
    """Staging files of an earlier save that was killed: TF writes a sharded checkpoint into
    PREFIX_temp/ and the `checkpoint` state file through checkpoint.tmpXXXX, then renames; a
    kill in between leaves them forever. Returns the names removed."""
    import shutil
    removed = []
    if not tf.io.gfile.isdir(folder):
        return removed
    for name in tf.io.gfile.listdir(folder):
        name = name.rstrip("/")
        path = os.path.join(folder, name)
        if name.startswith("ckpt-") and "_temp" in name:
            if tf.io.gfile.isdir(path):
                shutil.rmtree(path, ignore_errors=True) if os.path.isdir(path) else \
                    tf.io.gfile.rmtree(path)
            else:
                tf.io.gfile.remove(path)
            removed.append(name)
        elif name.startswith("checkpoint.tmp"):
            tf.io.gfile.remove(path)
            removed.append(name)
    return removed


def restore_latest_intact(checkpoint, manager, log=print):
    """Restores the newest checkpoint of `manager` that reads completely; returns its prefix
    (None when there is none). A truncated or corrupt newer one is named in a warning and the
    previous one is used; CorruptCheckpoint when none can be read. Restoring an older one
    after a failed attempt assigns every variable again, so nothing of the corrupt one stays.
    """
    failures = []
    for prefix in reversed(manager.checkpoints):
        try:
            checkpoint.restore(prefix).assert_existing_objects_matched()
        except Exception as error:   # OpError, IndexError ("Read less bytes"), ValueError
            reason = str(error).strip().splitlines()[0] if str(error).strip() else \
                type(error).__name__
            failures.append(f"{prefix} ({reason[:200]})")
            log(f"warning: checkpoint {prefix} is unreadable ({reason[:200]}); trying the "
                "previous one")
            continue
        if failures:
            log(f"warning: resumed from {prefix}, the newest intact checkpoint")
        return prefix
    if failures:
        raise CorruptCheckpoint(
            f"no checkpoint in {manager.directory} can be read: {'; '.join(failures)}. Delete "
            "them to start again, or use another --model_dir")
    return None


def read_model_weights(model, prefix):
    """Reads every weight of `model` from checkpoint `prefix` (its optimizer and step are
    ignored); CorruptCheckpoint naming the checkpoint when it cannot be read."""
    try:
        tf.train.Checkpoint(model=model).read(prefix).expect_partial() \
            .assert_existing_objects_matched()
    except Exception as error:   # OpError, IndexError ("Read less bytes"), AssertionError
        reason = str(error).strip().splitlines()[0] if str(error).strip() else \
            type(error).__name__
        raise CorruptCheckpoint(f"checkpoint {prefix} cannot be read ({reason[:200]})") \
            from None
    return prefix


def transfer_weights(source, target, *, skip_layers=()):
    """Copies weights layer by layer (same Keras layer name and weight shapes).

    Returns (copied layer names, skipped layer names). `skip_layers` names target layers never
    copied (the last layer when it is not initialised).
    """
    by_name = {layer.name: layer for layer in source._flatten_layers(include_self=False)}
    copied, skipped = [], []
    for layer in target._flatten_layers(include_self=False):
        if not layer.weights or layer.name in skip_layers:
            if layer.weights:
                skipped.append(layer.name)
            continue
        src = by_name.get(layer.name)
        if src is None:
            skipped.append(layer.name)
            continue
        values = src.get_weights()
        if len(values) != len(layer.weights) or any(
                np.shape(v) != tuple(w.shape) for v, w in zip(values, layer.weights)):
            skipped.append(layer.name)
            continue
        layer.set_weights(values)
        copied.append(layer.name)
    return copied, skipped


BEST_DIR = "best"
BEST_FILE = "best.json"


def read_best(model_dir):
    """RUN/best/best.json ({"step", "mean_iou", "split", "checkpoint"}) or None."""
    path = os.path.join(model_dir, BEST_DIR, BEST_FILE)
    if not tf.io.gfile.exists(path):
        return None
    with tf.io.gfile.GFile(path) as f:
        return json.load(f)


class BestCheckpoint:
    """RUN/best: the model weights of the evaluation with the highest mIoU so far.

    The folder is a checkpoint folder like the run's own (a model-only tf.train.Checkpoint, its
    `checkpoint` state file and model_signature.json), so every --checkpoint reader takes
    RUN/best. best.json, written last, says which step it is; a record from an earlier part of
    a resumed run is kept and has to be beaten. Only the chief writes it.
    """

    def __init__(self, model_dir, model, signature):
        self.folder = os.path.join(model_dir, BEST_DIR)
        self.model, self.signature = model, signature
        self.record = read_best(model_dir)

    def update(self, step, metrics, split):
        """Keeps the weights if metrics["mean_iou"] beats the record; True if it did."""
        mean_iou = float(metrics["mean_iou"])
        if self.record is not None and mean_iou <= self.record["mean_iou"]:
            return False
        # A model-only checkpoint; the manager recovers the previous one from the `checkpoint`
        # state file and deletes it (max_to_keep=1), also across resumed runs.
        manager = tf.train.CheckpointManager(tf.train.Checkpoint(model=self.model),
                                             self.folder, max_to_keep=1)
        prefix = manager.save(checkpoint_number=step)
        write_signature(self.folder, self.signature)
        record = {"step": int(step), "mean_iou": mean_iou, "split": split,
                  "checkpoint": os.path.basename(prefix)}
        temporary = os.path.join(self.folder, BEST_FILE + ".tmp")
        with tf.io.gfile.GFile(temporary, "w") as f:
            json.dump(record, f, indent=1)
        tf.io.gfile.rename(temporary, os.path.join(self.folder, BEST_FILE), overwrite=True)
        self.record = record
        return True

"""The learning curve of a run, from its own TensorBoard events: RUN/learning_curve.png.

The training loop writes the scalars "loss" and "eval/mean_iou" into RUN/train; train.py adds
the final evaluation's mIoU at the last step and draws the curve once training ends, so a
resumed run's curve covers every part of it (the events of all parts are read).
"""
import glob
import os

import numpy as np
import tensorflow as tf

CURVE_FILE = "learning_curve.png"


def read_scalars(events_dir, tags=("loss", "eval/mean_iou")):
    """{tag: ([steps], [values])} of the scalars in the event files of `events_dir`, sorted by
    step (the last value wins when a resumed run wrote a step twice)."""
    found = {tag: {} for tag in tags}
    for path in sorted(glob.glob(os.path.join(events_dir, "events.out.tfevents.*"))):
        try:
            for record in tf.data.TFRecordDataset(path):
                event = tf.compat.v1.Event.FromString(record.numpy())
                for value in event.summary.value:
                    if value.tag in found:
                        number = (float(tf.make_ndarray(value.tensor))
                                  if value.HasField("tensor") else value.simple_value)
                        found[value.tag][int(event.step)] = number
        except tf.errors.DataLossError:   # a file cut short by a kill: keep what was read
            continue
    return {tag: ([s for s in sorted(v)], [v[s] for s in sorted(v)]) for tag, v in found.items()}


def plot_learning_curve(model_dir, path=None, title=None):
    """Draws training loss and eval mIoU against step; returns the PNG path (None: no data)."""
    scalars = read_scalars(os.path.join(model_dir, "train"))
    loss_steps, losses = scalars["loss"]
    iou_steps, ious = scalars["eval/mean_iou"]
    if not loss_steps and not iou_steps:
        return None
    from matplotlib.figure import Figure   # no pyplot: the caller's backend stays as it is
    path = path or os.path.join(model_dir, CURVE_FILE)
    fig = Figure(figsize=(7, 4))
    ax = fig.subplots()
    ax.plot(loss_steps, losses, color="tab:blue", linewidth=1, alpha=0.5, label="loss")
    if len(losses) >= 10:   # a running mean shows the trend under the per-step noise
        k = max(3, len(losses) // 20)
        smooth = np.convolve(losses, np.ones(k) / k, mode="valid")
        ax.plot(loss_steps[k - 1:], smooth, color="tab:blue", linewidth=2, label="loss (mean)")
    ax.set_xlabel("step")
    ax.set_ylabel("training loss", color="tab:blue")
    right = ax.twinx()
    right.plot(iou_steps, ious, "o-", color="tab:red", label="eval mIoU")
    for step, value in zip(iou_steps, ious):
        right.annotate(f"{value:.3f}", (step, value), textcoords="offset points",
                       xytext=(0, 6), ha="center", fontsize=7, color="tab:red")
    right.set_ylabel("eval mIoU", color="tab:red")
    right.set_ylim(0, 1)
    lines = ax.get_legend_handles_labels()
    more = right.get_legend_handles_labels()
    ax.legend(lines[0] + more[0], lines[1] + more[1], loc="center right", fontsize=8)
    ax.set_title(title or os.path.basename(os.path.normpath(model_dir)))
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    return path

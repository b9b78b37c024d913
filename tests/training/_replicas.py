"""Two replicas (two logical CPU devices, MirroredStrategy, synchronized BatchNorm) vs one
replica on the same global batch: prints the losses and the max weight difference as JSON.

Usage: python tests/training/_replicas.py WORK_DIR
"""
import json
import sys

import numpy as np
import tensorflow as tf

from deeplab_tf.training.strategy import split_cpu

split_cpu(2)  # before anything initialises the devices

import keras  # noqa: E402

import deeplab_tf  # noqa: E402
from deeplab_tf.config import TrainConfig  # noqa: E402
from deeplab_tf.training.loop import train  # noqa: E402
from deeplab_tf.training.strategy import make_strategy  # noqa: E402

GLOBAL_BATCH, STEPS = 4, 2
# Dilated ASPP branches, so the CPU training path of AtrousConv2D runs under both strategies.
ATROUS_RATES = (2, 3)
rng = np.random.RandomState(0)
IMAGES = rng.uniform(0, 255, [GLOBAL_BATCH * STEPS, 33, 33, 3]).astype("float32")
LABELS = (IMAGES[..., 0] // 86).astype("int32")   # no ignore pixels: equal counts per replica


def make_dataset(ctx):
    batch = GLOBAL_BATCH // ctx.num_input_pipelines
    return tf.data.Dataset.from_tensor_slices({"image": IMAGES, "label": LABELS}).batch(batch)


def run(strategy_name, model_dir, initial):
    strategy = make_strategy(strategy_name)
    with strategy.scope():
        model = deeplab_tf.build_model("deeplabv3_mobilenetv2", num_classes=3,
                                       width_multiplier=0.125, aspp_depth=8, dropout=0.0,
                                       atrous_rates=ATROUS_RATES)
        model.set_weights(initial)
    config = TrainConfig(model_dir=model_dir, train_steps=STEPS, base_learning_rate=0.005,
                         checkpoint_every=100, log_every=1, summary_every=100,
                         image_summary_every=0, batch_norm_momentum=0.9)
    result = train(model, config=config, strategy=strategy, num_classes=3,
                   make_train_dataset=make_dataset, global_batch_size=GLOBAL_BATCH,
                   log=lambda s: None)
    return strategy.num_replicas_in_sync, result.loss, model.get_weights()


def main(work):
    keras.utils.set_random_seed(0)
    initial = deeplab_tf.build_model("deeplabv3_mobilenetv2", num_classes=3,
                                     width_multiplier=0.125, aspp_depth=8, dropout=0.0,
                                     atrous_rates=ATROUS_RATES).get_weights()
    n1, loss1, w1 = run("default", f"{work}/one", initial)
    n2, loss2, w2 = run("mirrored", f"{work}/two", initial)
    # Relative difference of the updates (w - w0) of every weight, worst case.
    update = max(float(np.max(np.abs(a - b))) for a, b in zip(w1, initial))
    diff = max(float(np.max(np.abs(a - b))) for a, b in zip(w1, w2))
    print("RESULTS " + json.dumps({"replicas": [n1, n2], "loss": [loss1, loss2],
                                   "max_weight_diff": diff, "max_update": update}))


if __name__ == "__main__":
    main(sys.argv[1])

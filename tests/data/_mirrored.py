"""Two replicas (two logical CPU devices, MirroredStrategy) reading build_dataset through
distribute_datasets_from_function; prints each replica's batch sizes and ids as JSON.

Usage: python tests/data/_mirrored.py PREPARED_DIR
"""
import json
import sys

import tensorflow as tf

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

from deeplab_tf.config import DataConfig  # noqa: E402
from deeplab_tf.data.pipeline import build_dataset  # noqa: E402

strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
config = DataConfig(dataset="synthetic", data_dir=sys.argv[1], batch_size=4, crop_size=(33, 33),
                    deterministic=True)
steps = []
for split in ("train", "val"):
    dataset = strategy.distribute_datasets_from_function(
        lambda context: build_dataset(config, split, input_context=context))
    batch = next(iter(dataset))
    steps.append({"split": split, "replicas": [
        {"device": image.device, "batch": int(image.shape[0]),
         "ids": [i.decode() for i in ids.numpy()]}
        for image, ids in zip(strategy.experimental_local_results(batch["image"]),
                              strategy.experimental_local_results(batch["id"]))]})
print(json.dumps(steps))

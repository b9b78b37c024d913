"""Training throughput of the compiled train step (images/s), without the input pipeline.

    python -m deeplab_tf.training.speed --preset=deeplabv3_resnet50 --output_stride=8 \
        --batch=4 --crop=321 --mixed_precision=mixed_bfloat16 [--xla] [--steps=3]

One configuration per process: the Keras mixed-precision policy is global. Prints one JSON
line {"preset", "batch", "crop", "output_stride", "mixed_precision", "xla", "images_per_second",
"seconds_per_step", "cpu_seconds_per_step", "first_step_seconds"}. deeplab_tf.benchmark can
call measure().
"""
import json
import sys
import time


def measure(preset, *, batch, crop, output_stride=None, mixed_precision="none", xla=False,
            steps=3, num_classes=21, **overrides):
    """Times `steps` train steps after one warm-up (trace) step on random images."""
    import keras
    import numpy as np
    import tensorflow as tf

    import deeplab_tf
    from deeplab_tf.config import TrainConfig
    from deeplab_tf.training.optimization import build_optimizer
    from deeplab_tf.training.step import make_train_step

    if mixed_precision != "none":
        keras.mixed_precision.set_global_policy(mixed_precision)
    strategy = tf.distribute.get_strategy()
    model = deeplab_tf.build_model(preset, num_classes=num_classes, output_stride=output_stride,
                                   **overrides)
    config = TrainConfig(train_steps=1000, mixed_precision=mixed_precision, xla=xla)
    optimizer = build_optimizer(config)
    optimizer.build(model.trainable_variables)
    step = make_train_step(model, optimizer, config, strategy, num_classes=num_classes)
    rng = np.random.RandomState(0)
    batch_data = {"image": rng.uniform(0, 255, [batch, crop, crop, 3]).astype("float32"),
                  "label": rng.randint(0, num_classes, [batch, crop, crop]).astype("int32")}
    iterator = iter(tf.data.Dataset.from_tensors(batch_data).repeat())
    start = time.time()
    float(step(iterator)["loss"])
    first = time.time() - start
    start, cpu_start = time.time(), time.process_time()
    for _ in range(steps):
        float(step(iterator)["loss"])
    per_step = (time.time() - start) / steps
    # CPU seconds (all threads) per step: on a shared machine wall time says little; on N
    # free cores a step takes about cpu_seconds_per_step / N if it parallelises well.
    cpu_per_step = (time.process_time() - cpu_start) / steps
    return {"preset": preset, "batch": batch, "crop": crop, "output_stride": output_stride,
            "mixed_precision": mixed_precision, "xla": xla, "steps": steps,
            "images_per_second": round(batch / per_step, 3),
            "seconds_per_step": round(per_step, 3),
            "cpu_seconds_per_step": round(cpu_per_step, 3), "first_step_seconds": round(first, 1)}


def main(argv):
    from absl import flags
    f = flags.FLAGS
    print(json.dumps(measure(f.preset, batch=f.batch, crop=f.crop, output_stride=f.output_stride,
                             mixed_precision=f.mixed_precision, xla=f.xla, steps=f.steps)))


if __name__ == "__main__":
    from absl import app, flags
    flags.DEFINE_string("preset", "deeplabv3_resnet50", "Preset.")
    flags.DEFINE_integer("output_stride", 8, "Output stride.")
    flags.DEFINE_integer("batch", 4, "Batch.")
    flags.DEFINE_integer("crop", 321, "Square crop.")
    flags.DEFINE_enum("mixed_precision", "none", ["none", "mixed_float16", "mixed_bfloat16"], "")
    flags.DEFINE_boolean("xla", False, "jit_compile the forward/backward.")
    flags.DEFINE_integer("steps", 3, "Timed steps.")
    app.run(main)

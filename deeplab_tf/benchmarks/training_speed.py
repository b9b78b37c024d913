"""Training throughput of the compiled train step (images/s), without the input pipeline.

`python -m deeplab_tf.benchmark --what=training` runs one process per configuration
(measure_configs), because the Keras mixed-precision policy is global. That process is this
module:

    python -m deeplab_tf.benchmarks.training_speed --preset=deeplabv3_resnet50 \
        --output_stride=8 --batch=4 --crop=321 --mixed_precision=mixed_bfloat16 [--xla]

and prints one JSON line {"preset", "batch", "crop", "output_stride", "mixed_precision", "xla",
"images_per_second", "seconds_per_step", "cpu_seconds_per_step", "first_step_seconds"}. With
--torchvision_python, the torchvision reference (torchvision_reference.py in this folder) is
run the same way.
"""
import json
import os
import sys
import time


def measure(preset, *, batch, crop, output_stride=None, mixed_precision="none", xla=False,
            steps=3, num_classes=21, **overrides):
    """Times `steps` train steps after one warm-up (trace) step on random images."""
    import numpy as np
    import tensorflow as tf

    import deeplab_tf
    from deeplab_tf.config import TrainConfig
    from deeplab_tf.training.optimization import build_optimizer
    from deeplab_tf.training.step import make_train_step

    from deeplab_tf.training import precision
    precision.apply(mixed_precision)
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


def parse_configs(entries):
    """["preset:os:batch", ...] -> [(preset, os, batch)], with an error naming a bad entry."""
    configs = []
    for entry in entries:
        parts = entry.split(":")
        try:
            preset, output_stride, batch = parts[0], int(parts[1]), int(parts[2])
            assert len(parts) == 3 and batch > 0
        except (IndexError, ValueError, AssertionError):
            raise ValueError(f"--training_configs entry {entry!r}: expected "
                             "PRESET:OUTPUT_STRIDE:BATCH, e.g. deeplabv3_resnet50:8:4") from None
        configs.append((preset, output_stride, batch))
    return configs


def _json_row(cmd, what):
    """Runs cmd, a process that prints one JSON line last; returns it, or raises naming `what`
    with the last line of the process's stderr."""
    import subprocess
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode or not lines:
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise RuntimeError(f"{what} failed: {tail}")
    return json.loads(lines[-1])


def measure_configs(configs, precisions, xla_modes, crop, steps, log=print):
    """Train-step images/s per configuration, each measured in its own process."""
    rows = []
    for preset, output_stride, batch in configs:
        for precision in precisions:
            for xla in xla_modes:
                log(f"timing training {preset} OS{output_stride} batch {batch} {precision} "
                    f"xla={xla}")
                cmd = [sys.executable, "-m", "deeplab_tf.benchmarks.training_speed",
                       f"--preset={preset}",
                       f"--output_stride={output_stride}", f"--batch={batch}", f"--crop={crop}",
                       f"--mixed_precision={precision}", f"--steps={steps}",
                       "--xla" if xla == "on" else "--noxla"]
                rows.append(_json_row(cmd, f"training benchmark {' '.join(cmd[2:])}"))
    return rows


TORCHVISION_SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                  "torchvision_reference.py")


def torchvision_reference(python, configs, precisions, crop, steps, threads, log=print):
    """torchvision's deeplabv3_resnet50 train step (the issue's reference) per matching config.

    Only deeplabv3_resnet50 at output stride 8 has a torchvision twin. "none" is timed in
    float32, the mixed policies with bfloat16 autocast.
    """
    rows = []
    torch_precisions = sorted({"float32" if p == "none" else "bfloat16" for p in precisions})
    for preset, output_stride, batch in configs:
        if (preset, output_stride) != ("deeplabv3_resnet50", 8):
            continue
        for precision in torch_precisions:
            log(f"timing torchvision deeplabv3_resnet50 batch {batch} {precision}")
            cmd = [python, TORCHVISION_SCRIPT, f"--batch={batch}", f"--crop={crop}",
                   f"--precision={precision}", f"--steps={steps}", f"--threads={threads}"]
            rows.append(_json_row(cmd, f"torchvision reference ({python})"))
    return rows


def add_torchvision_ratios(rows, reference_rows):
    """Each of our deeplabv3_resnet50 OS8 rows gets images/s divided by torchvision's."""
    reference = {(r["batch"], r["mixed_precision"]): r["images_per_second"]
                 for r in reference_rows}
    for row in rows:
        key = (row["batch"], "float32" if row["mixed_precision"] == "none" else "bfloat16")
        if (row["preset"], row["output_stride"]) == ("deeplabv3_resnet50", 8) and key in reference:
            row["ratio_vs_torchvision"] = round(row["images_per_second"] / reference[key], 2)


def speed_table(rows):
    lines = [f"{'preset':30s} {'OS':>3s} {'batch':>5s} {'precision':>15s} {'xla':>5s} "
             f"{'img/s':>8s} {'s/step':>8s} {'CPU s/step':>10s}"]
    for r in rows:
        ratio = (f"  {r['ratio_vs_torchvision']:.2f}x torchvision"
                 if "ratio_vs_torchvision" in r else "")
        lines.append(f"{r['preset'][:30]:30s} {r['output_stride']:>3d} {r['batch']:>5d} "
                     f"{r['mixed_precision']:>15s} {str(r['xla']):>5s} "
                     f"{r['images_per_second']:>8.3f} {r['seconds_per_step']:>8.2f} "
                     f"{r['cpu_seconds_per_step']:>10.2f}{ratio}")
    return "\n".join(lines)


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
    from deeplab_tf.training.precision import POLICIES
    flags.DEFINE_enum("mixed_precision", "none", list(POLICIES), "")
    flags.DEFINE_boolean("xla", False, "jit_compile the forward/backward.")
    flags.DEFINE_integer("steps", 3, "Timed steps.")
    app.run(main)

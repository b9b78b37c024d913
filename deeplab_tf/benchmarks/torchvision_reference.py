"""The issue's speed reference: torchvision's DeepLabV3-ResNet50 train step, timed like ours.

Run by a Python that has torch and torchvision (they are not dependencies of deeplab_tf):

    /path/to/torch-python deeplab_tf/benchmarks/torchvision_reference.py --batch=4 \
        --crop=321 --precision=bfloat16 --steps=3 --threads=2

or through `python -m deeplab_tf.benchmark --what=training --torchvision_python=PATH`, which
puts its rows beside ours in one run. torchvision's deeplabv3_resnet50 is DeepLab v3 at output
stride 8 (replace_stride_with_dilation=[False, True, True]), ASPP rates 12/24/36, no auxiliary
head; the step is SGD (momentum 0.9) on cross-entropy with ignore index 255 at label size, as
deeplab_tf.benchmarks.training_speed. bfloat16 = torch.autocast on CPU with channels-last
tensors (the fastest CPU recipe PyTorch documents). Prints one JSON line with the same keys as
deeplab_tf.benchmarks.training_speed. Imports nothing from deeplab_tf, so any torch environment
can run it.
"""
import argparse
import json
import time


def measure(batch, crop, precision, steps, threads, num_classes=21):
    import torch
    import torchvision

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = torchvision.models.segmentation.deeplabv3_resnet50(
        weights=None, weights_backbone=None, num_classes=num_classes, aux_loss=False)
    model.train()
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9, weight_decay=1e-4)
    images = torch.rand(batch, 3, crop, crop) * 255
    labels = torch.randint(0, num_classes, (batch, crop, crop))
    if precision == "bfloat16":
        model = model.to(memory_format=torch.channels_last)
        images = images.contiguous(memory_format=torch.channels_last)

    def step():
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bfloat16"):
            logits = model(images)["out"]
        loss = torch.nn.functional.cross_entropy(logits.float(), labels, ignore_index=255)
        loss.backward()
        optimizer.step()
        return float(loss)

    start = time.time()
    step()
    first = time.time() - start
    start, cpu_start = time.time(), time.process_time()
    for _ in range(steps):
        step()
    per_step = (time.time() - start) / steps
    return {"preset": "torchvision deeplabv3_resnet50", "batch": batch, "crop": crop,
            "output_stride": 8, "mixed_precision": precision, "xla": False, "steps": steps,
            "images_per_second": round(batch / per_step, 3),
            "seconds_per_step": round(per_step, 3),
            "cpu_seconds_per_step": round((time.process_time() - cpu_start) / steps, 3),
            "first_step_seconds": round(first, 1),
            "versions": f"torch {torch.__version__}, torchvision {torchvision.__version__}"}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--crop", type=int, default=321)
    parser.add_argument("--precision", choices=["float32", "bfloat16"], default="float32")
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    print(json.dumps(measure(args.batch, args.crop, args.precision, args.steps, args.threads)))


if __name__ == "__main__":
    main()

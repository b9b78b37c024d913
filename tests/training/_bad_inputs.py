"""Runs deeplab_tf.train's flag parsing + main on bad inputs in ONE process (importing
TensorFlow once), printing {case: [exit code, stderr]} as JSON. Used by test_bad_inputs.py.

Usage: python tests/training/_bad_inputs.py DATA_DIR WORK_DIR
"""
import contextlib
import io
import json
import os
import sys

from deeplab_tf import train
from tests.training.conftest import tiny_flags

train.define_flags()


def call(args):
    err, out = io.StringIO(), io.StringIO()
    code = 0
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
        try:
            train.parse_flags(["train", *args])
            train.main(["train"])
        except SystemExit as exit_:
            code = exit_.code if isinstance(exit_.code, int) else 1
    train.FLAGS.unparse_flags()
    return [code, err.getvalue().strip().splitlines()[-1] if err.getvalue().strip() else "",
            out.getvalue()]


def main(data, work):
    results = {}
    # First: it splits the CPU into two logical devices before TensorFlow initialises them.
    results["batch_not_divisible"] = call(tiny_flags(
        data, f"{work}/a", "--strategy=mirrored", "--num_cpu_replicas=2",
        "--train_batch_size=3"))
    results["unknown_strategy"] = call(tiny_flags(data, f"{work}/b", "--strategy=horovod"))
    results["missing_dataset"] = call(tiny_flags(f"{work}/no_such_dir", f"{work}/c"))
    results["missing_split"] = call(tiny_flags(data, f"{work}/c", "--eval_split=test"))
    flagfile = os.path.join(work, "bad.flags")
    with open(flagfile, "w") as f:
        f.write("# a typo in a flagfile\n--train_stepz=10\n")
    results["unknown_flag_in_flagfile"] = call([f"--flagfile={flagfile}"])
    # A finished tiny run, then the same model_dir with another architecture.
    results["good_run"] = call(tiny_flags(data, f"{work}/run", "--train_steps=2"))
    # That run, copied, with its only checkpoint truncated (and a killed save's staging folder).
    import glob
    import shutil
    shutil.copytree(f"{work}/run", f"{work}/run_truncated")
    for data_file in glob.glob(f"{work}/run_truncated/ckpt-*.data-*"):
        with open(data_file, "r+b") as f:
            f.truncate(os.path.getsize(data_file) // 2)
    os.makedirs(f"{work}/run_truncated/ckpt-3_temp")
    results["truncated_checkpoint"] = call(tiny_flags(data, f"{work}/run_truncated",
                                                      "--train_steps=4"))
    results["truncated_checkpoint"].append(os.path.exists(f"{work}/run_truncated/ckpt-3_temp"))
    results["other_architecture_resume"] = call(tiny_flags(
        data, f"{work}/run", "--model_overrides=width_multiplier=0.125,aspp_depth=16"))
    results["other_architecture_init"] = call(
        tiny_flags(data, f"{work}/d", f"--init=checkpoint:{work}/run")[2:] +
        ["--preset=deeplabv3plus_mobilenetv2",
         "--model_overrides=width_multiplier=0.125,aspp_depth=8,low_level_depth=8,"
         "decoder_depth=8"])
    # Initialising from that run with another number of classes skips only the logits.
    results["init_other_classes"] = call(tiny_flags(
        data, f"{work}/g", f"--init=checkpoint:{work}/run", "--num_classes=6",
        "--train_steps=1"))
    # An official checkpoint that holds no backbone scope: refused by --init in one line.
    import numpy as np
    from deeplab_tf.weights.checkpoint_reader import write_checkpoint
    stranger = write_checkpoint({"some_net/conv1/weights": np.zeros([3, 3, 3, 4], np.float32)},
                                os.path.join(work, "stranger", "model.ckpt"))
    results["init_no_backbone_scope"] = call(tiny_flags(
        data, f"{work}/h", f"--init=official:{stranger}"))
    results["init_unknown_name"] = call(tiny_flags(
        data, f"{work}/i", "--init=official:resnet_v9"))
    results["class_weights_length"] = call(tiny_flags(data, f"{work}/e", "--class_weights=1,2"))
    results["accumulation"] = call(tiny_flags(data, f"{work}/f", "--accumulation_steps=3"))
    results["dataset_json_missing"] = call(tiny_flags(
        data, f"{work}/j", f"--dataset={work}/nowhere/dataset.json"))
    results["class_weights_unknown_name"] = call(tiny_flags(
        data, f"{work}/k", "--class_weights=median"))
    results["learning_rate_nan"] = call(tiny_flags(data, f"{work}/m", "--base_learning_rate=nan"))
    results["weight_decay_negative"] = call(tiny_flags(data, f"{work}/n", "--weight_decay=-1"))
    results["learning_rate_inf"] = call(tiny_flags(data, f"{work}/o", "--base_learning_rate=inf"))
    results["momentum_one"] = call(tiny_flags(data, f"{work}/p", "--momentum=1.0"))
    results["batch_norm_momentum_nan"] = call(tiny_flags(data, f"{work}/p",
                                                         "--batch_norm_momentum=nan"))
    results["min_scale_above_max"] = call(tiny_flags(data, f"{work}/p", "--min_scale=2.5"))
    results["eval_scales_nan"] = call(tiny_flags(data, f"{work}/p", "--eval_scales=1.0,nan"))
    results["crop_size_abc"] = call(tiny_flags(data, f"{work}/p", "--crop_size=abc"))
    results["crop_size_below_stride"] = call(tiny_flags(data, f"{work}/p", "--crop_size=9,9"))
    with open(os.path.join(work, "a_file"), "w") as f:
        f.write("not a folder")
    results["model_dir_is_a_file"] = call(tiny_flags(data, f"{work}/a_file"))
    results["init_sha256_malformed"] = call(tiny_flags(
        data, f"{work}/p", "--init=official:mobilenet_v2_1.0_224", "--init_sha256=00ff"))
    # The prepared data with one shard cut short: the shard is named, not the reader's op.
    damaged_data = f"{work}/damaged_data"
    shutil.copytree(data, damaged_data)
    shard = sorted(glob.glob(f"{damaged_data}/train-*.tfrecord"))[0]
    with open(shard, "r+b") as f:
        f.truncate(os.path.getsize(shard) // 2)
    results["damaged_shard"] = call(tiny_flags(damaged_data, f"{work}/q"))
    results["data_of_another_dataset"] = call(tiny_flags(data, f"{work}/l", "--dataset=camvid"))
    results["experiments"] = check_experiments()
    print("RESULTS " + json.dumps(results))


def check_experiments():
    """Every experiments/*.flags parses (no unknown flag) and names a buildable model config."""
    import glob

    from deeplab_tf.config import from_flags
    from deeplab_tf.data.datasets import get_dataset
    from deeplab_tf.models.builder import model_info
    problems = {}
    for path in sorted(glob.glob(os.path.join(os.path.dirname(__file__), "..", "..",
                                              "experiments", "*.flags"))):
        name = os.path.basename(path)
        try:
            train.FLAGS(["train", f"--flagfile={path}"])
            configs = from_flags(train.FLAGS)
            m = configs["model"]
            num_classes = m.num_classes or get_dataset(configs["data"].dataset).num_classes
            model_info(m.preset, num_classes=num_classes, output_stride=m.output_stride,
                       **m.build_kwargs())
            problems[name] = "ok"
        except Exception as error:  # reported per file by the test  # noqa: BLE001
            problems[name] = f"{type(error).__name__}: {error}"
        train.FLAGS.unparse_flags()
    return problems


if __name__ == "__main__":
    main(*sys.argv[1:3])

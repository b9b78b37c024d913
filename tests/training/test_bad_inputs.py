"""Every bad input of the training issue gives a clear one-line error (exit code 2) before
training starts. All cases run in one subprocess (one TensorFlow import)."""
import json
import os
import subprocess
import sys

import pytest

from tests.conftest import REPO


def _results(synthetic_data, work):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, str(REPO / "tests/training/_bad_inputs.py"),
                           synthetic_data, str(work)], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=600)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULTS ")]
    assert lines, proc.stdout[-3000:] + proc.stderr[-3000:]
    return json.loads(lines[-1][len("RESULTS "):])


# (case, words its one-line error must hold). One test checks them all: the cases share one
# subprocess, and one test keeps it on one pytest-xdist worker.
CASES = [
    ("unknown_strategy", ["--strategy='horovod' is unknown", "multi_worker_mirrored"]),
    ("batch_not_divisible", ["--train_batch_size=3", "not divisible", "2 replicas"]),
    ("missing_dataset", ["--data_dir=", "no_such_dir", "not a prepared dataset folder"]),
    ("missing_split", ["split 'test' is not prepared", "prepared splits"]),
    ("unknown_flag_in_flagfile", ["train_stepz", "bad.flags"]),
    ("other_architecture_resume", ["another architecture", "aspp"]),
    ("other_architecture_init", ["another architecture", "deeplabv3_mobilenetv2",
                                 "--preset=deeplabv3plus_mobilenetv2"]),
    ("class_weights_length", ["--class_weights has 2 values", "expected 5"]),
    ("accumulation", ["--accumulation_steps=3", "not divisible"]),
    ("init_no_backbone_scope", ["--init=official:", "stranger", "some_net"]),
    ("init_unknown_name", ["resnet_v9", "known names", "resnet_v1_101_beta"]),
    ("dataset_json_missing", ["--dataset=", "nowhere/dataset.json", "no such dataset.json"]),
    ("class_weights_unknown_name", ["--class_weights=median", "median_frequency",
                                    "inverse_log_frequency"]),
    ("learning_rate_nan", ["--base_learning_rate=nan", "finite number in (0, inf)"]),
    ("weight_decay_negative", ["--weight_decay=-1.0", "finite number in [0, inf)"]),
    ("learning_rate_inf", ["--base_learning_rate=inf", "finite number in (0, inf)"]),
    ("momentum_one", ["--momentum=1.0", "in [0, 1)"]),
    ("batch_norm_momentum_nan", ["--batch_norm_momentum=nan", "in [0, 1)"]),
    ("min_scale_above_max", ["--min_scale=2.5", "above --max_scale=2.0"]),
    ("eval_scales_nan", ["--eval_scales=1.0,nan", "finite numbers > 0"]),
    ("crop_size_abc", ["--crop_size=abc", "HEIGHT,WIDTH"]),
    ("crop_size_below_stride", ["--crop_size=9,9", "output stride 16", "at least 17"]),
    ("truncated_checkpoint", ["no checkpoint in", "run_truncated", "ckpt-2", "can be read"]),
    ("damaged_shard", ["TFRecord shard", "damaged_data/train-", "is damaged", "truncated record",
                       "prepare the dataset again"]),
    ("init_sha256_malformed", ["--init_sha256=00ff", "64 hexadecimal digits"]),
    ("model_dir_is_a_file", ["--model_dir=", "a_file", "existing file"]),
    ("data_of_another_dataset", ["holds synthetic", "not --dataset=camvid", "Bicyclist"]),
]


@pytest.mark.slow
def test_every_bad_input_gives_one_clear_line_and_the_good_runs_succeed(synthetic_data,
                                                                        tmp_path):
    results = _results(synthetic_data, tmp_path)
    problems = []
    for case, words in CASES:
        code, message = results[case][:2]
        if code != 2 or not message.startswith("train: error: ") or any(
                word not in message for word in words):
            problems.append((case, code, message, [w for w in words if w not in message]))
    assert not problems, problems
    # The good run of the same process succeeds.
    assert results["good_run"][0] == 0, results["good_run"]
    # Every experiments/*.flags parses (no unknown flag) and names a buildable model config.
    experiments = results["experiments"]
    assert len(experiments) >= 7, experiments   # six paper rows + quickstart
    assert all(v == "ok" for v in experiments.values()), experiments
    # Initialising from a run with other classes skips only the logits.
    code, message, out = results["init_other_classes"]
    assert code == 0, message
    assert "not initialised: ['logits.semantic']" in out, out[-2000:]
    # A killed save's staging folder is removed on resume.
    assert results["truncated_checkpoint"][3] is False

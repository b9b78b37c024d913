"""`python -m deeplab_tf.benchmark`: sub-benchmarks selected by flag, JSON results, errors."""
import json
import subprocess
import sys

import pytest

from deeplab_tf.benchmarks import latency
from deeplab_tf.benchmarks import training_speed as speed
from tests.conftest import REPO as REPO_ROOT
from tests.conftest import SHARED_DATA


def run_benchmark(*args):
    return subprocess.run([sys.executable, "-m", "deeplab_tf.benchmark", *args], cwd=REPO_ROOT,
                          capture_output=True, text=True)


def test_time_call_reports_the_median():
    calls = []
    result = latency.time_call(lambda: calls.append(1), runs=5, warmup=2)
    assert len(calls) == 7 and result["runs"] == 5
    assert 0 <= result["min_ms"] <= result["median_ms"]


@pytest.mark.slow  # ~30-50 s: converts and exports full-width MobileNetV2 models to TFLite
def test_latency_and_pipeline_at_a_tiny_size(tmp_path):
    official = SHARED_DATA / "official"
    args = ["--what=latency,pipeline", "--presets=deeplabv3_mobilenetv2",
            "--runtimes=keras,tflite_float", "--size=33", "--runs=2", "--warmup=1",
            "--pipeline_images=8", "--pipeline_batches=2", "--pipeline_runs=1",
            "--pipeline_batch_size=2", f"--output_json={tmp_path / 'out.json'}"]
    if official.exists():
        args.append(f"--official_dir={official}")
    result = run_benchmark(*args)
    assert result.returncode == 0, result.stderr[-2000:]
    out = json.loads((tmp_path / "out.json").read_text())
    ours = {r["runtime"]: r for r in out["latency"] if r["model"] == "deeplabv3_mobilenetv2"}
    assert set(ours) == {"keras", "tflite_float"}
    assert ours["tflite_float"]["input"] == "33x33" and ours["tflite_float"]["median_ms"] > 0
    assert ours["tflite_float"]["invoke_ms"] > 0
    if official.exists():
        reference = out["latency"][0]
        assert reference["model"] == f"official {latency.OFFICIAL_INT8}"
        assert reference["ratio_vs_official_int8"] == 1.0
        assert ours["keras"]["weights"].startswith("official")
        twin, = [r for r in out["latency"] if r["model"].endswith("(official float weights)")]
        assert twin["input"] == "257x257" and twin["ratio_vs_official_float"] > 0
    assert out["pipeline"]["median"] > 0 and out["pipeline"]["crop_size"] == [33, 33]
    assert "median ms" in result.stdout and "images/s" in result.stdout


@pytest.mark.slow  # ~15 s: a train-step process (imports TF and traces once)
def test_training_images_per_second_per_configuration(tmp_path):
    result = run_benchmark("--what=training", "--training_configs=deeplabv3_mobilenetv2_dm05:16:2",
                           "--training_precisions=none", "--training_xla=off",
                           "--training_crop=33", "--training_steps=1",
                           f"--output_json={tmp_path / 'out.json'}")
    assert result.returncode == 0, result.stderr[-2000:]
    rows = json.loads((tmp_path / "out.json").read_text())["training"]
    assert [(r["preset"], r["output_stride"], r["batch"], r["crop"], r["mixed_precision"],
             r["xla"]) for r in rows] == [
        ("deeplabv3_mobilenetv2_dm05", 16, 2, 33, "none", False)]   # (16-bit: test_precision)
    assert all(r["images_per_second"] > 0 and r["cpu_seconds_per_step"] > 0 for r in rows)
    assert "img/s" in result.stdout


def test_crf_seconds_per_image_and_pool_rate(tmp_path):
    voc = SHARED_DATA / "voc"
    args = ["--what=crf", "--crf_images=1", "--threads=2", f"--output_json={tmp_path / 'o.json'}"]
    if voc.exists():
        args.append(f"--voc_dir={voc}")
    result = run_benchmark(*args)
    assert result.returncode == 0, result.stderr[-2000:]
    rows = json.loads((tmp_path / "o.json").read_text())["crf"]
    assert [r["parameters"] for r in rows] == ["resnet101", "vgg16"]
    assert all(r["serial_cpu_seconds_median"] > 0 and r["pool_images_per_second"] > 0
               and r["size"] == "500x375" for r in rows)


@pytest.mark.parametrize("args, message", [
    (["--what=speed"], "--what=speed; allowed: latency, pipeline, training, crf"),
    (["--training_configs=deeplabv3_resnet50:8"], "expected PRESET:OUTPUT_STRIDE:BATCH"),
    (["--training_configs=deeplabv9:8:4"], "--training_configs has unknown presets"),
    (["--training_xla=maybe"], "--training_xla has ['maybe']"),
    (["--runtimes=onnx"], "--runtimes has ['onnx']"),
    (["--presets=deeplabv9"], "--presets has unknown ['deeplabv9']"),
    (["--threads=0"], "--threads=0 must be positive"),
    (["--official_dir=/nonexistent"], "--official_dir=/nonexistent is not a folder"),
    (["--what=training", "--torchvision_python=/nonexistent/python"],
     "--torchvision_python=/nonexistent/python is not an executable file"),
])
def test_bad_flags_give_one_line_errors(args, message):
    result = run_benchmark(*args)
    assert result.returncode != 0
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("benchmark: error:") and message in last, result.stderr[-1500:]


def test_head_to_head_times_each_file(tmp_path):
    from deeplab_tf import export
    from tests.export.conftest import tiny_model
    a = export.export_tflite(tiny_model(), tmp_path / "a.tflite", input_size=(33, 33))
    b = export.export_tflite(tiny_model(), tmp_path / "b.tflite", input_size=(33, 33),
                             argmax=True)
    result = latency.head_to_head({"a": a, "b": b}, threads=1, runs=3, warmup=1)
    assert set(result) == {"a", "b"} and min(result.values()) > 0


def test_torchvision_reference_names_the_interpreter_that_lacks_torch():
    # This environment has no torch: the reference run must fail loudly, not be skipped.
    with pytest.raises(RuntimeError, match=r"torchvision reference .* failed: .*torch"):
        speed.torchvision_reference(sys.executable, [("deeplabv3_resnet50", 8, 1)],
                                        ["none"], crop=33, steps=1, threads=1, log=lambda _: None)


def test_only_resnet50_os8_rows_get_a_torchvision_ratio():
    ours = [{"preset": "deeplabv3_resnet50", "output_stride": 8, "batch": 4,
             "mixed_precision": "none", "images_per_second": 0.9},
            {"preset": "deeplabv3_resnet50", "output_stride": 8, "batch": 4,
             "mixed_precision": "mixed_bfloat16", "images_per_second": 1.5},
            {"preset": "deeplabv3plus_mobilenetv2", "output_stride": 16, "batch": 8,
             "mixed_precision": "none", "images_per_second": 4.0}]
    reference = [{"batch": 4, "mixed_precision": "float32", "images_per_second": 0.45},
                 {"batch": 4, "mixed_precision": "bfloat16", "images_per_second": 1.0}]
    speed.add_torchvision_ratios(ours, reference)
    assert [r.get("ratio_vs_torchvision") for r in ours] == [2.0, 1.5, None]

"""Latency of one image through Keras, the SavedModel and our TFLite exports, beside the
official TFLite files, under the same thread count (`python -m deeplab_tf.benchmark
--what=latency`; that entry point's docstring describes the rows).

Every model is loaded and run through deeplab_tf.inference, the one way the evaluator runs
them; "invoke_ms" is the LiteRT invoke alone.
"""
import os
import statistics
import time

OFFICIAL_INT8 = "deeplabv3_mnv2_pascal_quant.tflite"
OFFICIAL_FLOAT = "deeplabv3_257_mv_gpu.tflite"
RUNTIMES = ("keras", "saved_model", "tflite_float", "tflite_int8")


def time_call(fn, runs, warmup):
    """Median and minimum wall-clock milliseconds of fn() over `runs` calls after `warmup`."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000.0)
    return {"median_ms": statistics.median(times), "min_ms": min(times), "runs": len(times)}


def _invoke_ms(path, threads, runs, warmup):
    """LiteRT invoke alone (input already set), with the default XNNPACK delegate."""
    import numpy as np
    from ai_edge_litert.interpreter import Interpreter
    interpreter = Interpreter(model_path=str(path), num_threads=threads)
    interpreter.allocate_tensors()
    detail = interpreter.get_input_details()[0]
    interpreter.set_tensor(detail["index"], np.zeros(detail["shape"], detail["dtype"]))
    return time_call(interpreter.invoke, runs, warmup)["median_ms"]


def head_to_head(paths, threads, runs, warmup):
    """Median LiteRT invoke ms of several .tflite files timed in alternation.

    Alternating one invoke of each file per round cancels the drift of a shared machine's load,
    which separate timing loops minutes apart do not.
    """
    import numpy as np
    from ai_edge_litert.interpreter import Interpreter
    interpreters = {}
    for name, path in paths.items():
        interpreter = Interpreter(model_path=str(path), num_threads=threads)
        interpreter.allocate_tensors()
        detail = interpreter.get_input_details()[0]
        interpreter.set_tensor(detail["index"], np.zeros(detail["shape"], detail["dtype"]))
        for _ in range(warmup):
            interpreter.invoke()
        interpreters[name] = interpreter
    times = {name: [] for name in paths}
    for _ in range(runs):
        for name, interpreter in interpreters.items():
            start = time.perf_counter()
            interpreter.invoke()
            times[name].append((time.perf_counter() - start) * 1000.0)
    return {name: statistics.median(t) for name, t in times.items()}


def _time_predictor(path, size, threads, runs, warmup, **load_kwargs):
    import numpy as np
    from deeplab_tf import inference
    predictor = inference.load_predictor(path, num_threads=threads, **load_kwargs)
    height, width = predictor.fixed_size or (size, size)
    batch = np.random.default_rng(0).uniform(0, 255, (1, height, width, 3)).astype(np.float32)
    result = time_call(lambda: predictor.run(batch), runs, warmup)
    result["input"] = f"{height}x{width}"
    if str(path).endswith(".tflite"):
        result["invoke_ms"] = _invoke_ms(path, threads, runs, warmup)
    return result


def _calibration(size, count, voc_dir, work_dir):
    import numpy as np
    if not voc_dir:
        rng = np.random.default_rng(0)
        return [rng.uniform(0, 255, (size, size, 3)).astype(np.float32) for _ in range(count)], \
            "random images"
    from deeplab_tf.config import DataConfig
    from deeplab_tf.data import prepare
    from deeplab_tf.exporters.tflite import representative_images_from_pipeline
    records = os.path.join(work_dir, "voc_records")
    if not os.path.exists(records):
        prepare.prepare("voc2012", voc_dir, records, splits=["train", "val"], progress=False)
    config = DataConfig(dataset="voc2012", data_dir=records)
    images = list(representative_images_from_pipeline(config, "train", (size, size), count))
    return images, f"{count} pipeline crops of {voc_dir}"


def _float_twin(official_path, threads, runs, warmup, work_dir, log):
    """Our float TFLite export of the converted official float file, at the file's own size."""
    from deeplab_tf.exporters.tflite import export_tflite
    model, arch = _converted(official_path)
    log(f"timing our float export of {OFFICIAL_FLOAT}")
    path = os.path.join(work_dir, "official_float_twin.tflite")
    export_tflite(model, path, overwrite=True, input_size=arch.input_size)
    row = {"model": f"{arch.preset} (official float weights)", "runtime": "tflite_float",
           "weights": "official (converted from the float file)",
           **_time_predictor(path, arch.input_size[0], threads, runs, warmup)}
    return row


def _converted(path):
    """(keras.Model, Architecture) of an official .tflite file (deeplab_tf.pretrained)."""
    from deeplab_tf.pretrained import build_from_weights, read_official
    from deeplab_tf.weights.architecture import infer_architecture
    weights = read_official(path)
    return build_from_weights(None, weights, name=path), infer_architecture(weights)


def _model(preset, official_dir):
    """(keras.Model, weights description)."""
    import deeplab_tf
    official = os.path.join(official_dir or "", OFFICIAL_INT8)
    if preset == "deeplabv3_mobilenetv2" and official_dir and os.path.exists(official):
        return _converted(official)[0], "official (converted from the int8 file)"
    return deeplab_tf.build_model(preset), "initial"


def latency(presets, runtimes, size, threads, runs, warmup, official_dir, voc_dir,
            calibration_images, work_dir, log=print):
    """Rows {"model", "runtime", "input", "median_ms", ...} for our models and official files."""
    from deeplab_tf.exporters.saved_model import export_saved_model
    from deeplab_tf.exporters.tflite import export_tflite
    rows = []
    if official_dir:
        for name in (OFFICIAL_INT8, OFFICIAL_FLOAT):
            path = os.path.join(official_dir, name)
            if os.path.exists(path):
                log(f"timing official {name}")
                rows.append({"model": f"official {name}", "runtime": "tflite",
                             **_time_predictor(path, size, threads, runs, warmup)})
        float_path = os.path.join(official_dir, OFFICIAL_FLOAT)
        if os.path.exists(float_path) and "tflite_float" in runtimes:
            rows.append(_float_twin(float_path, threads, runs, warmup, work_dir, log))
    calibration = None
    for preset in presets:
        model, weights = _model(preset, official_dir)
        for runtime in runtimes:
            log(f"timing {preset} {runtime}")
            row = {"model": preset, "runtime": runtime, "weights": weights}
            path = os.path.join(work_dir, f"{preset}.{runtime}")
            if runtime == "keras":
                from deeplab_tf import inference
                predictor = inference.predictor_from_keras(model)
                import numpy as np
                batch = np.random.default_rng(0).uniform(0, 255, (1, size, size, 3)).astype(
                    np.float32)
                row.update(time_call(lambda: predictor.run(batch), runs, warmup),
                           input=f"{size}x{size}")
            elif runtime == "saved_model":
                export_saved_model(model, path, overwrite=True)
                row.update(_time_predictor(path, size, threads, runs, warmup))
            elif runtime == "tflite_float":
                export_tflite(model, path + ".tflite", overwrite=True,
                                     input_size=(size, size))
                row.update(_time_predictor(path + ".tflite", size, threads, runs, warmup))
            elif runtime == "tflite_int8":
                if calibration is None:
                    calibration = _calibration(size, calibration_images, voc_dir, work_dir)
                row["calibration"] = calibration[1]
                export_tflite(model, path + ".tflite", overwrite=True,
                                     input_size=(size, size), quantize="int8", argmax=True,
                                     io_dtype="uint8", representative_data=calibration[0])
                row.update(_time_predictor(path + ".tflite", size, threads, runs, warmup))
                official = os.path.join(official_dir or "", OFFICIAL_INT8)
                if weights.startswith("official") and size == 513 and os.path.exists(official):
                    pair = head_to_head({"ours": path + ".tflite", "official": official},
                                        threads, max(runs, 20), warmup)
                    row["head_to_head_invoke_ms"] = pair
                    row["head_to_head_ratio"] = pair["ours"] / pair["official"]
            else:
                raise ValueError(f"--runtimes entry {runtime!r}; allowed: {', '.join(RUNTIMES)}")
            rows.append(row)
    official_float = next((r for r in rows if r["model"] == f"official {OFFICIAL_FLOAT}"), None)
    twin = next((r for r in rows if r["model"].endswith("(official float weights)")), None)
    if official_float and twin:
        twin["ratio_vs_official_float"] = twin["median_ms"] / official_float["median_ms"]
        twin["invoke_ratio_vs_official_float"] = twin["invoke_ms"] / official_float["invoke_ms"]
    reference = next((r for r in rows if r["model"] == f"official {OFFICIAL_INT8}"), None)
    if reference:
        for row in rows:
            row["ratio_vs_official_int8"] = row["median_ms"] / reference["median_ms"]
            if "invoke_ms" in row:
                row["invoke_ratio_vs_official_int8"] = row["invoke_ms"] / reference["invoke_ms"]
    return rows


def latency_table(rows):
    lines = [f"{'model':52s} {'runtime':13s} {'input':9s} {'median ms':>10s} {'invoke ms':>10s} "
             f"{'ratio':>7s}"]
    for r in rows:
        invoke = f"{r['invoke_ms']:10.1f}" if "invoke_ms" in r else f"{'-':>10s}"
        ratio = f"{r['ratio_vs_official_int8']:7.2f}" if "ratio_vs_official_int8" in r else ""
        lines.append(f"{r['model']:52s} {r['runtime']:13s} {r['input']:9s} "
                     f"{r['median_ms']:10.1f} {invoke} {ratio}")
    return "\n".join(lines)

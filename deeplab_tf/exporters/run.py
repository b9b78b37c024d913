"""The exports a training run asks for (ExportConfig: --export_formats, --export_quantize,
--export_dir), with the same exporters as deeplab_tf.export's command line."""
import os

from deeplab_tf.exporters import saved_model, tflite


def export_run(model, config, default_dir, data, split, class_names, log=print):
    """The exports an ExportConfig asks for (training's --export_formats): a SavedModel and/or
    a TFLite file of `model` at the training crop size (`data`: the run's DataConfig, whose
    `split` also gives int8 calibration images). Returns {format: path}."""
    out_dir = config.output_dir or default_dir
    os.makedirs(out_dir, exist_ok=True)
    produced = {}
    if "saved_model" in config.formats:
        path = os.path.join(out_dir, "saved_model")
        saved_model.export_saved_model(model, path, class_names=class_names, overwrite=True)
        produced["saved_model"] = path
        log(f"exported SavedModel -> {path}")
    if "tflite" in config.formats:
        size = tuple(data.crop_size)
        kwargs = {}
        if config.quantize == "int8":
            kwargs["representative_data"] = tflite.representative_images_from_pipeline(
                data, split, size, 16)
        path = os.path.join(out_dir, f"model_{config.quantize}.tflite")
        tflite.export_tflite(model, path, overwrite=True, input_size=size,
                             quantize=config.quantize, **kwargs)
        produced["tflite"] = path
        log(f"exported TFLite ({config.quantize}) -> {path}")
    return produced

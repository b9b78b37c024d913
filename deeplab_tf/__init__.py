"""deeplab_tf: DeepLab v1, v2, v3 and v3+ in TensorFlow 2 / Keras 3.

Importing the package is cheap: TensorFlow is imported only when a model is built. It also
makes the package's Keras layers known to Keras (at the first `import keras`: registration.py),
so keras.models.load_model reads every model the package saved.
"""
from deeplab_tf import registration as _registration

__version__ = "0.1.0"

__all__ = ["build_model", "list_presets", "load_model", "preset_info", "__version__"]

_registration.install()


def build_model(preset=None, num_classes=None, output_stride=None, weights=None, **overrides):
    """Builds a DeepLab keras.Model; see deeplab_tf.models.builder.build_model.

    weights: None, or an official file by name or path (deeplab_tf.pretrained): a whole model
      (its preset and number of classes are taken from the file; preset may be omitted) or an
      ImageNet checkpoint that initialises the backbone of `preset`.
    """
    if weights is not None:
        from deeplab_tf.pretrained import build_pretrained
        return build_pretrained(preset, weights, num_classes=num_classes,
                                output_stride=output_stride, **overrides)
    if preset is None:
        raise ValueError("build_model needs a preset (deeplab_tf.list_presets()) or weights")
    from deeplab_tf.models.builder import build_model as _build
    return _build(preset, num_classes=num_classes, output_stride=output_stride, **overrides)


def load_model(path, **kwargs):
    """A Predictor (deeplab_tf.predictors: .kind, .num_classes, .model for Keras) of a .keras
    file, a SavedModel folder, a .tflite file or a training run folder alike; pass it to
    deeplab_tf.inference.predict_probabilities / predict_labels. (The keras.Model itself of a
    run folder, checkpoint or .keras file, at any output stride: deeplab_tf.restore.)"""
    from deeplab_tf.predictors import load_predictor
    return load_predictor(path, **kwargs)


def list_presets():
    """Names of the model presets, sorted."""
    from deeplab_tf.models.presets import PRESETS
    return sorted(PRESETS)


def preset_info(name):
    """What is recorded about a preset (deeplab_tf.models.presets.preset_info): its parameter
    count, the paper row it reproduces and the experiments/ flagfile that trains it."""
    from deeplab_tf.models.presets import preset_info as _info
    return _info(name)


def __getattr__(name):
    """Submodules on first use (`deeplab_tf.config.from_flagfile(...)` after `import
    deeplab_tf`), so the package import itself stays cheap."""
    import importlib
    import importlib.util
    if not name.startswith("_") and importlib.util.find_spec(f"{__name__}.{name}"):
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

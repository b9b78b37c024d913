"""deeplab_tf: DeepLab v1, v2, v3 and v3+ in TensorFlow 2 / Keras 3.

Importing the package is cheap: TensorFlow is imported only when a model is built.
"""
__version__ = "0.1.0"

__all__ = ["build_model", "list_presets", "__version__"]


def build_model(preset, num_classes=None, output_stride=None, **overrides):
    """Builds a DeepLab keras.Model; see deeplab_tf.models.builder.build_model."""
    from deeplab_tf.models.builder import build_model as _build
    return _build(preset, num_classes=num_classes, output_stride=output_stride, **overrides)


def list_presets():
    """Names of the model presets, sorted."""
    from deeplab_tf.models.presets import PRESETS
    return sorted(PRESETS)

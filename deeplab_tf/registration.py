"""Makes every Keras object the package saves (its layers, its learning-rate schedule) known
to Keras, so `keras.models.load_model("m.keras")` works after a plain `import deeplab_tf`.

Registering means importing the modules that define them, which imports Keras and TensorFlow
(seconds). To keep `import deeplab_tf` light, install() registers at once only when Keras is
already imported; otherwise it waits for the first `import keras` (also through tf.keras) and
registers right after it, with an import hook that removes itself once it has fired.
"""
import importlib
import importlib.abc
import importlib.util
import sys

# Every module with @keras.saving.register_keras_serializable objects (a test checks the list).
SERIALIZABLE_MODULES = (
    "deeplab_tf.models.atrous_conv",
    "deeplab_tf.models.cropping",
    "deeplab_tf.models.dilation",
    "deeplab_tf.models.fcn",
    "deeplab_tf.models.layers",
    "deeplab_tf.models.unpooling",
    "deeplab_tf.training.schedules",
)


def register():
    for name in SERIALIZABLE_MODULES:
        importlib.import_module(name)


class _AfterKeras(importlib.abc.MetaPathFinder):
    """Finds `keras` like the rest of sys.meta_path does, and runs register() once the
    module has executed."""

    def find_spec(self, fullname, path, target=None):
        if fullname != "keras":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec("keras")
        if spec is None or spec.loader is None:
            return spec
        execute = spec.loader.exec_module

        def exec_module(module):
            execute(module)
            register()
        spec.loader.exec_module = exec_module
        return spec


def install():
    if "keras" in sys.modules:
        register()
    elif not any(isinstance(f, _AfterKeras) for f in sys.meta_path):
        sys.meta_path.insert(0, _AfterKeras())

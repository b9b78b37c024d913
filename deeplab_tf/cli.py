"""Console scripts (setup.py entry_points): deeplab-train, deeplab-evaluate, ... run the same
main() as `python -m deeplab_tf.X`, after quiet() and before TensorFlow is imported."""
import importlib


def _run(module_name, define=True, parser=None):
    from deeplab_tf.quiet import quiet
    quiet()
    from absl import app
    module = importlib.import_module(module_name)
    if define and hasattr(module, "define_flags"):
        module.define_flags()
    if parser:
        app.run(module.main, flags_parser=getattr(module, parser))
    else:
        app.run(module.main)


def train():
    _run("deeplab_tf.train", parser="parse_flags")


def evaluate():
    _run("deeplab_tf.evaluate")


def predict():
    _run("deeplab_tf.predict")


def export():
    _run("deeplab_tf.export")


def convert():
    _run("deeplab_tf.convert")


def prepare():
    _run("deeplab_tf.data.prepare")


COMMANDS = {"deeplab-train": "train", "deeplab-evaluate": "evaluate",
            "deeplab-predict": "predict", "deeplab-export": "export",
            "deeplab-convert": "convert", "deeplab-prepare": "prepare"}

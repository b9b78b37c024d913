"""deeplab_tf: DeepLab v1, v2, v3 and v3+ in TensorFlow 2 / Keras 3."""
import re
from pathlib import Path

from setuptools import find_packages, setup

_VERSION = re.search(r'__version__ = "([^"]+)"',
                     Path(__file__).with_name("deeplab_tf").joinpath("__init__.py").read_text()).group(1)

setup(
    name="deeplab_tf",
    version=_VERSION,
    description="TensorFlow 2 / Keras reference reproduction of DeepLab v1, v2, v3 and v3+",
    long_description=Path(__file__).with_name("README.md").read_text(),
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    packages=find_packages(include=["deeplab_tf", "deeplab_tf.*"]),
    include_package_data=True,
    install_requires=[
        # The CPU build keeps CI small; GPU users install `tensorflow[and-cuda]` instead.
        "tensorflow-cpu>=2.16; platform_machine=='x86_64'",
        "tensorflow>=2.16; platform_machine!='x86_64'",
        "keras>=3.0",
        "tensorflow-datasets>=4.9",
        "importlib_resources",  # tensorflow-datasets' builders need it (not pulled in by it)
        "numpy",
        "absl-py",
        "Pillow",
        "tqdm",
        "scipy",          # SBD .mat annotations
        "cityscapesscripts",  # the official Cityscapes label table (helpers/labels.py)
        "matplotlib",     # confusion-matrix plot and panels
        "ai-edge-litert",  # runs .tflite files
        "tflite",         # flatbuffer schema: reads weights and op options of official files
        "pydensecrf2",    # provides the `pydensecrf` module (DenseCRF)
        "tensorboard",    # tf.summary writers of the training loop (not pulled in by tensorflow-cpu)
    ],
    # The same commands as `python -m deeplab_tf.X` (deeplab_tf/cli.py).
    entry_points={"console_scripts": [
        "deeplab-train=deeplab_tf.cli:train",
        "deeplab-evaluate=deeplab_tf.cli:evaluate",
        "deeplab-predict=deeplab_tf.cli:predict",
        "deeplab-export=deeplab_tf.cli:export",
        "deeplab-convert=deeplab_tf.cli:convert",
        "deeplab-prepare=deeplab_tf.cli:prepare",
    ]},
    extras_require={
        # export --format=onnx, and onnxruntime to run the .onnx files
        "onnx": ["tf2onnx", "onnxruntime"],
        "test": ["pytest", "pytest-xdist", "nbclient", "nbformat", "ipykernel", "tf2onnx",
                 "onnxruntime"],
    },
)

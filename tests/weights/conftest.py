"""Fixtures for the official-weights tests: the shared official files, converted once per run,
and LiteRT runs of the official models (the reference)."""
import numpy as np
import pytest
from PIL import Image

from tests.conftest import shared_path

FLOAT_FILE = "deeplabv3_257_mv_gpu.tflite"
QUANT_FILE = "deeplabv3_mnv2_pascal_quant.tflite"


def official(name):
    return shared_path("official", name)


def load_rgb(name, size=None):
    """uint8 [H, W, 3]; resized with PIL bilinear when size is given (both models get the
    same resized pixels, so the resize method does not matter for parity)."""
    image = Image.open(official(name)).convert("RGB")
    if size is not None and image.size != (size, size):
        image = image.resize((size, size), Image.BILINEAR)
    return np.asarray(image)


def run_litert(path, image):
    """Runs an official .tflite with LiteRT's reference kernels (no default delegate).

    The float file takes (x - 127.5) / 127.5; the uint8 file takes the raw pixels.
    """
    from ai_edge_litert.interpreter import Interpreter, OpResolverType
    interpreter = Interpreter(
        str(path), num_threads=2,
        experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    interpreter.allocate_tensors()
    detail = interpreter.get_input_details()[0]
    if detail["dtype"] == np.uint8:
        value = image[None].astype(np.uint8)
    else:
        value = ((image.astype(np.float32) - 127.5) / 127.5)[None]
    interpreter.set_tensor(detail["index"], value)
    interpreter.invoke()
    return interpreter.get_tensor(interpreter.get_output_details()[0]["index"])[0]


def logits(model, image):
    """Our model on one uint8 image [H, W, 3] (0..255 in, preprocessing inside) -> [H, W, C]."""
    return np.asarray(model(image[None].astype(np.float32), training=False))[0]


@pytest.fixture(scope="session")
def converted_float():
    """(model, architecture, seconds) of the float file converted by deeplab_tf.convert."""
    from deeplab_tf.convert import convert
    return convert("official_tflite", official(FLOAT_FILE))


@pytest.fixture(scope="session")
def converted_quant():
    from deeplab_tf.convert import convert
    return convert("official_tflite", official(QUANT_FILE))

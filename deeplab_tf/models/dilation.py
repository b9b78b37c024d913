"""The dilated front-end and the basic context module (Yu & Koltun, "Multi-Scale Context
Aggregation by Dilated Convolutions", ICLR 2016, Sec. 3 and 4, Table 1).

Front-end (Sec. 4): VGG-16 with pool4 and pool5 removed, conv5_x dilated by 2 (the backbone
"vgg16_dilated"), then fc6 as a 7x7 conv with 4096 channels dilated by 4, fc7 a 1x1 with 4096
(ReLU and dropout 0.5 after each), and a 1x1 classifier (the paper's final layer; "fc_final"
here, as "-" is not allowed in Keras names). Output stride 8; the builder upsamples the
logits bilinearly to the input size.

Basic context module (Sec. 3, Table 1), optional (context_module=True): on the front-end's
C = num_classes score maps, 7 layers of 3x3 convs with dilations 1, 1, 2, 4, 8, 16, 1 and C
channels each, every one followed by ReLU ("truncation"), then a 1x1 C -> C without ReLU.
Identity initialisation (Sec. 3): k(t, a) = 1[a = b] 1[t = 0], i.e. each filter passes its
own channel through its centre tap, biases zero, so the module starts as the identity on
non-negative inputs. Dilation8 = front-end + context module (65.3 CamVid test mIoU, Sec. 5).

Deviations (BUILD_NOTES.md): the paper's front-end has no padding inside the network and
reflection-pads the input; here every conv is "SAME" (zero padding) as in the DeepLab
models, so any input size works and no cropping is needed.
"""
import keras
import numpy as np

from deeplab_tf.models.layers import AtrousConv2D, logits_initializer

CONTEXT_DILATIONS = (1, 1, 2, 4, 8, 16, 1)   # Table 1, layers 1-7 (3x3); layer 8 is 1x1
FRONT_END_LOGITS = "fc_final"


@keras.saving.register_keras_serializable(package="deeplab_tf")
class IdentityKernel(keras.initializers.Initializer):
    """Conv kernel [k, k, C, C] (k odd) that is the identity: 1 at the centre tap from channel
    a to channel a, 0 elsewhere (Yu & Koltun, Sec. 3)."""

    def __call__(self, shape, dtype=None):
        kh, kw, cin, cout = shape
        if kh % 2 == 0 or kw % 2 == 0 or cin != cout:
            raise ValueError(f"IdentityKernel needs an odd kernel [k, k, C, C], got {shape}")
        kernel = np.zeros(shape, dtype="float32")
        kernel[kh // 2, kw // 2] = np.eye(cin, dtype="float32")
        return keras.ops.convert_to_tensor(kernel, dtype=dtype)

    def get_config(self):
        return {}


def context_names():
    return [f"ctx_conv{i}" for i in range(1, len(CONTEXT_DILATIONS) + 1)] + ["ctx_final"]


def logits_layer_names(config):
    """Layers whose weights depend on num_classes (builder.model_info): the front-end's
    classifier and, with the context module, all of its layers (C channels each)."""
    return [FRONT_END_LOGITS] + (context_names() if config["context_module"] else [])


def add_context_module(x):
    """Basic context module: [B, h, w, C] -> [B, h, w, C] (C = the channels of x)."""
    channels = x.shape[-1]
    names = context_names()
    for rate, name in zip(CONTEXT_DILATIONS, names):
        x = AtrousConv2D(channels, 3, dilation_rate=rate, padding="same", activation="relu",
                         kernel_initializer=IdentityKernel(), name=name)(x)
    return keras.layers.Conv2D(channels, 1, kernel_initializer=IdentityKernel(),
                               name=names[-1])(x)


def front_end_head(endpoints, *, num_classes, atrous_rates, fc_depth=4096, dropout=0.5,
                   context_module=False):
    """fc6 (7x7, dilated) -> fc7 -> fc_final (-> context module) on endpoints["out"].

    Args:
      atrous_rates: a 1-tuple, fc6's dilation at output stride 8 (4: the rate the removed
        pool4 and pool5 strides accumulate).
    Returns:
      (logits [B, h, w, num_classes] at stride 8, names of the class-dependent layers).
    """
    if len(atrous_rates) != 1:
        raise ValueError(f"atrous_rates={tuple(atrous_rates)!r}: the front-end has one fc6 "
                         "dilation, e.g. (4,)")
    x = AtrousConv2D(fc_depth, 7, dilation_rate=atrous_rates[0], padding="same",
                     activation="relu", name="fc6")(endpoints["out"])
    x = keras.layers.Dropout(dropout, name="drop6")(x)
    x = keras.layers.Conv2D(fc_depth, 1, activation="relu", name="fc7")(x)
    x = keras.layers.Dropout(dropout, name="drop7")(x)
    x = keras.layers.Conv2D(num_classes, 1, kernel_initializer=logits_initializer(),
                            name=FRONT_END_LOGITS)(x)
    if not context_module:
        return x, [FRONT_END_LOGITS]
    return add_context_module(x), [FRONT_END_LOGITS] + context_names()

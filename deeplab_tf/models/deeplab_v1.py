"""DeepLab v1 head: DeepLab-LargeFOV (Chen et al., arXiv 1412.7062, Sec. 3.1 and 4.1).

fc6 is a 3x3 convolution with dilation 12 and 1024 channels (the LargeFOV choice that cuts
VGG's 7x7x4096 fc6 to 20.5M parameters in total), fc7 a 1x1 with 1024, each followed by ReLU
and dropout 0.5, fc8 a 1x1 to the classes. Names follow the Caffe prototxt (fc6, drop6, ...).
"""
import keras

from deeplab_tf.models.layers import AtrousConv2D, logits_initializer


def logits_name(suffix=""):
    """The name of a branch's class layer: fc8 (v1), fc8_1, fc8_2, ... (v2 VGG branches)."""
    return f"fc8{suffix}"


def logits_layer_names(config):
    """Names of the layers whose weights depend on num_classes, for a resolved preset config
    (builder.model_info); the head names its class layer with the same function."""
    return [logits_name()]


def fc_branch(x, *, num_classes, rate, fc_depth, dropout, suffix=""):
    """fc6 (3x3 dilated) -> fc7 (1x1) -> fc8 (1x1 logits).

    [B, h, w, C] -> ([B, h, w, num_classes], the fc8 layer). suffix names the v2 ASPP branch
    ("_1", ...).
    """
    x = AtrousConv2D(fc_depth, 3, dilation_rate=rate, padding="same", activation="relu",
                     name=f"fc6{suffix}")(x)
    x = keras.layers.Dropout(dropout, name=f"drop6{suffix}")(x)
    x = keras.layers.Conv2D(fc_depth, 1, activation="relu", name=f"fc7{suffix}")(x)
    x = keras.layers.Dropout(dropout, name=f"drop7{suffix}")(x)
    fc8 = keras.layers.Conv2D(num_classes, 1, kernel_initializer=logits_initializer(),
                              name=logits_name(suffix))
    return fc8(x), fc8


def largefov_head(endpoints, *, num_classes, atrous_rates, fc_depth=1024, dropout=0.5):
    """LargeFOV head on the backbone output.

    Args:
      endpoints: backbone endpoints; uses "out" [B, h, w, 512].
      atrous_rates: a 1-tuple, the fc6 dilation at the model's output stride (12 at OS8).
    Returns:
      (logits [B, h, w, num_classes], names of the layers it created whose weights depend on
      num_classes: logits_layer_names of its config).
    """
    if len(atrous_rates) != 1:
        raise ValueError(f"atrous_rates={tuple(atrous_rates)!r}: DeepLab v1 LargeFOV has one "
                         "fc6 rate, e.g. (12,)")
    logits, fc8 = fc_branch(endpoints["out"], num_classes=num_classes, rate=atrous_rates[0],
                            fc_depth=fc_depth, dropout=dropout)
    return logits, [fc8.name]

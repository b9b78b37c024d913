"""DeepLab v2 head: atrous spatial pyramid pooling with summed branch logits.

Chen et al., arXiv 1606.00915, Sec. 3.1 and Fig. 4/7: parallel branches at rates
{6, 12, 18, 24} (ASPP-L) or {2, 4, 8, 12} (ASPP-S) on the OS8 features, each ending in class
logits, fused by summation.
- VGG form: each branch is fc6 (3x3 dilated, 1024) -> fc7 (1x1, 1024) -> fc8 (classes), with
  dropout 0.5 (Caffe names fc6_1, fc7_1, fc8_1, ... for the branches).
- ResNet form: each branch is one 3x3 dilated conv straight to the classes; named as the
  official TF code names it (model.get_branch_logits): logits/semantic, logits/semantic_1, ...
"""
import keras

from deeplab_tf.models.deeplab_v1 import fc_branch, logits_name
from deeplab_tf.models.layers import AtrousConv2D, logits_initializer
from deeplab_tf.models.naming import keras_name

BRANCH_FORMS = ("vgg", "resnet")


def _vgg_suffix(i):
    return f"_{i + 1}"


def branch_logits_names(num_branches, branch_form):
    """Names of the branches' class layers: fc8_1, fc8_2, ... (VGG) or logits.semantic,
    logits.semantic_1, ... (ResNet). The head names its layers with this function."""
    if branch_form == "vgg":
        return [logits_name(_vgg_suffix(i)) for i in range(num_branches)]
    return [keras_name("logits/semantic" + (f"_{i}" if i else "")) for i in range(num_branches)]


def logits_layer_names(config):
    """Names of the layers whose weights depend on num_classes, for a resolved preset config
    (builder.model_info): one class layer per ASPP branch."""
    return branch_logits_names(len(config["atrous_rates"]), config["branch_form"])


def aspp_sum_head(endpoints, *, num_classes, atrous_rates, branch_form, fc_depth=1024,
                  dropout=0.5):
    """[B, h, w, C] backbone output -> (logits [B, h, w, num_classes], names of the class
    layers it created)."""
    if branch_form not in BRANCH_FORMS:
        raise ValueError(f"branch_form={branch_form!r}; allowed: {BRANCH_FORMS}")
    if not atrous_rates:
        raise ValueError("atrous_rates=() : DeepLab v2 ASPP needs at least one rate, "
                         "e.g. (6, 12, 18, 24)")
    features = endpoints["out"]
    names = branch_logits_names(len(atrous_rates), branch_form)
    branches, class_layers = [], []
    for i, (rate, name) in enumerate(zip(atrous_rates, names)):
        if branch_form == "vgg":
            # fc_branch names its fc8 from the same suffix (deeplab_v1.logits_name).
            logits, layer = fc_branch(features, num_classes=num_classes, rate=rate,
                                      fc_depth=fc_depth, dropout=dropout, suffix=_vgg_suffix(i))
        else:
            layer = AtrousConv2D(num_classes, 3, dilation_rate=rate, padding="same",
                                 kernel_initializer=logits_initializer(), name=name)
            logits = layer(features)
        branches.append(logits)
        class_layers.append(layer.name)
    if len(branches) == 1:
        return branches[0], class_layers
    sum_name = "fc8" if branch_form == "vgg" else keras_name("logits/sum")
    return keras.layers.Add(name=sum_name)(branches), class_layers

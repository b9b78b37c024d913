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

from deeplab_tf.models.deeplab_v1 import fc_branch
from deeplab_tf.models.layers import AtrousConv2D
from deeplab_tf.models.naming import keras_name

BRANCH_FORMS = ("vgg", "resnet")


def aspp_sum_head(endpoints, *, num_classes, atrous_rates, branch_form, fc_depth=1024,
                  dropout=0.5):
    """[B, h, w, C] backbone output -> (logits [B, h, w, num_classes], class layer names)."""
    if branch_form not in BRANCH_FORMS:
        raise ValueError(f"branch_form={branch_form!r}; allowed: {BRANCH_FORMS}")
    if not atrous_rates:
        raise ValueError("atrous_rates=() : DeepLab v2 ASPP needs at least one rate, "
                         "e.g. (6, 12, 18, 24)")
    features = endpoints["out"]
    branches, names = [], []
    for i, rate in enumerate(atrous_rates):
        if branch_form == "vgg":
            suffix = f"_{i + 1}"
            branches.append(fc_branch(features, num_classes=num_classes, rate=rate,
                                      fc_depth=fc_depth, dropout=dropout, suffix=suffix))
            names.append(f"fc8{suffix}")
        else:
            scope = "logits/semantic" + (f"_{i}" if i else "")
            branches.append(AtrousConv2D(num_classes, 3, dilation_rate=rate,
                                        padding="same", name=keras_name(scope))(features))
            names.append(keras_name(scope))
    if len(branches) == 1:
        return branches[0], names
    sum_name = "fc8" if branch_form == "vgg" else keras_name("logits/sum")
    return keras.layers.Add(name=sum_name)(branches), names

"""Optimizer and the parts of the model the recipe treats specially.

  * SGD with momentum 0.9 (all DeepLab papers) on the poly schedule (schedules.py).
  * Weight decay: L2 on convolution / dense kernels, slim convention wd * sum(w^2) / 2 added
    to the loss. Depthwise kernels are not decayed: the official MobileNetV2 and Xception arg
    scopes use regularize_depthwise=False. Biases, BatchNorm gamma/beta are not decayed.
  * The last layer: every Conv2D whose output has num_classes channels (the logits convs; the
    v2 ASPP has four such parallel branches). Its gradients are multiplied by
    last_layer_gradient_multiplier (official slim.learning.multiply_gradients, which for SGD
    with momentum equals an LR multiplier), and it is the part skipped at initialisation when
    the number of classes differs.
  * BatchNorm: synchronized across replicas when there are several (Keras 3 reads
    `synchronized` at call time, so setting it on the built layers before the train step is
    traced takes effect); frozen entirely (moving statistics and gamma/beta) when
    fine_tune_batch_norm is False, as v2's Caffe ResNet did.
"""
import keras

from deeplab_tf.training.schedules import PolyLearningRate


def all_layers(model):
    return [layer for layer in model._flatten_layers(include_self=False, recursive=True)]


def decayed_kernels(model):
    """The variables weight decay applies to (see the module docstring)."""
    kernels = []
    for layer in all_layers(model):
        if isinstance(layer, keras.layers.DepthwiseConv2D):
            continue
        if isinstance(layer, keras.layers.SeparableConv2D):
            kernels.append(layer.pointwise_kernel)
        elif isinstance(layer, (keras.layers.Conv2D, keras.layers.Dense)):
            kernels.append(layer.kernel)
    return [k for k in kernels if k.trainable]


def last_layers(model, num_classes):
    """Conv2D layers producing num_classes channels (the logits)."""
    return [layer for layer in all_layers(model)
            if type(layer) is keras.layers.Conv2D and layer.filters == num_classes]


def batch_norm_layers(model):
    return [layer for layer in all_layers(model)
            if isinstance(layer, keras.layers.BatchNormalization)]


def configure_batch_norm(model, *, num_replicas, fine_tune, momentum=None):
    """Synchronizes BatchNorm across replicas or freezes it; optionally overrides the moving
    average momentum (the official 0.9997 needs thousands of steps before the moving
    statistics fit: short runs such as the quickstart use 0.99). Returns the BN layer count."""
    layers = batch_norm_layers(model)
    for layer in layers:
        layer.synchronized = num_replicas > 1
        if momentum is not None:
            layer.momentum = float(momentum)
        if not fine_tune:
            layer.trainable = False
    return len(layers)


def build_optimizer(config):
    """SGD(momentum) on the poly schedule; float16 gets dynamic loss scaling."""
    schedule = PolyLearningRate(
        config.base_learning_rate, config.train_steps, power=config.learning_power,
        end_learning_rate=config.end_learning_rate, warmup_steps=config.warmup_steps,
        slow_start_steps=config.slow_start_steps,
        slow_start_learning_rate=config.slow_start_learning_rate)
    optimizer = keras.optimizers.SGD(learning_rate=schedule, momentum=config.momentum)
    if config.mixed_precision == "mixed_float16":
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    return optimizer


def gradient_multipliers(model, num_classes, multiplier):
    """{id(variable): multiplier} for the last layer's variables (empty when 1)."""
    if multiplier == 1.0:
        return {}
    return {id(v): multiplier for layer in last_layers(model, num_classes)
            for v in layer.trainable_variables}

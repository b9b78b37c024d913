"""Optimizer and the parts of the model the recipe treats specially.

  * SGD with momentum 0.9 (all DeepLab papers) on the poly schedule (schedules.py).
  * Weight decay: L2 on convolution / dense kernels, slim convention wd * sum(w^2) / 2 added
    to the loss. Depthwise kernels are not decayed: the official MobileNetV2 and Xception arg
    scopes use regularize_depthwise=False. Biases, BatchNorm gamma/beta are not decayed.
  * The last layer: exactly the layers named in model_info(...)["logits_layers"], which the
    head that creates them reports (v1 fc8, the four parallel v2 ASPP branches, v3/v3+
    logits.semantic), looked up by name in the built model, never guessed from a layer's
    type or width. Their gradients are multiplied by last_layer_gradient_multiplier
    (official slim.learning.multiply_gradients, which for SGD with momentum equals an LR
    multiplier), and they are the part skipped at initialisation (initialization.py) when
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


def named_layers(model, names):
    """The layers of `model` (nested models flattened) called `names`, in that order.

    Raises ValueError when a name is missing or names several layers: a silently empty or
    wrong selection would train the last layer at the plain learning rate.
    """
    by_name = {}
    for layer in all_layers(model):
        by_name.setdefault(layer.name, []).append(layer)
    missing = [n for n in names if n not in by_name]
    if missing:
        raise ValueError(f"layers {missing} are not in model {model.name!r} (its logits_layers "
                         "must come from model_info of the same preset and overrides)")
    ambiguous = [n for n in names if len(by_name[n]) > 1]
    if ambiguous:
        raise ValueError(f"layer names {ambiguous} occur more than once in model {model.name!r}")
    return [by_name[n][0] for n in names]


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


def gradient_multipliers(model, logits_layers, multiplier):
    """{id(variable): multiplier} for the variables of the layers named logits_layers
    (model_info(...)["logits_layers"]); empty when the multiplier is 1.

    Raises ValueError when logits_layers names a layer the model lacks (checked at any
    multiplier: the list comes from another configuration), or is empty while the multiplier
    is not 1.
    """
    layers = named_layers(model, logits_layers)
    if multiplier == 1.0:
        return {}
    if not layers:
        raise ValueError(f"last_layer_gradient_multiplier={multiplier} needs the names of the "
                         "logits layers (model_info(...)['logits_layers']); none were given")
    return {id(v): multiplier for layer in layers for v in layer.trainable_variables}

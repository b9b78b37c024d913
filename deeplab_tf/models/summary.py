"""Parameters and multiply-adds of a built model, read from its layers' static shapes.

Counted (one multiply plus one add = 1 multiply-add), per output element:
  Conv2D (incl. dilated): kh * kw * Cin / groups;  DepthwiseConv2D: kh * kw (per channel);
  SeparableConv2D: its depthwise and pointwise parts;  Dense: Cin;
  Conv2DTranspose (FCN's upsampling): kh * kw * Cout per input element (each input element
      is spread over a kh x kw window of every output channel).
Not counted: biases, BatchNorm, activations, additions, pooling, resizes, concatenation and
preprocessing (all O(activations), under 1% of these networks).

Two counts are returned:
  multiply_adds_dense: the ideal count, every conv output position once.
  multiply_adds: atrous (dilated) convolutions counted as TensorFlow 1 ran them in the
      official DeepLab graphs, the convention of the v3+ paper's Tables 3 and 5: tf.nn.
      convolution with a dilation rate r > 1 is SpaceToBatchND -> VALID conv -> BatchToSpaceND
      (tf.nn.with_space_to_batch), where the input is padded by the SAME padding (k_eff - 1)
      and then up to a multiple of r. Per spatial dimension of size H the conv therefore
      computes r * (ceil((H + k_eff - 1) / r) - (k - 1)) positions instead of H: e.g. at
      33x33 (513 px, OS16) a 3x3 conv at rate 6, 12 or 18 computes 36x36 positions, at rate 8
      40x40. Undilated layers count the same in both.
  With it, the ResNet-101 rows match the paper within 1.3% (dense: 3-6% under; see
  BUILD_NOTES.md); Xception-65 +SC is unaffected (its dilated convs are depthwise).
Parameters: all weights (trainable and not, i.e. including BN moving statistics), as
keras.Model.count_params().
The model must be built with a static input shape (build_model(..., batch_size=1,
input_shape=(H, W))); no forward pass is needed.
"""
import math

import keras


def _positions(layer, space_to_batch):
    """Output positions the layer computes: dense, or TF1's space-to-batch grid when dilated."""
    out = layer.output.shape
    rates = tuple(layer.dilation_rate)
    if not space_to_batch or all(r == 1 for r in rates) or layer.padding != "same":
        return math.prod(int(d) for d in out[1:-1])
    total = 1
    for size, k, r in zip(layer.input.shape[1:-1], layer.kernel_size, rates):
        k_eff = (k - 1) * r + 1
        padded = -(-(int(size) + k_eff - 1) // r) * r
        total *= r * (padded // r - (k - 1))
    return total


def layer_multiply_adds(layer, space_to_batch=True):
    """Multiply-adds of one layer for its (static) output shape; 0 for uncounted layers."""
    if isinstance(layer, keras.layers.DepthwiseConv2D):
        kh, kw = layer.kernel_size
        return _positions(layer, space_to_batch) * int(layer.output.shape[-1]) * kh * kw
    if isinstance(layer, keras.layers.SeparableConv2D):
        kh, kw = layer.kernel_size
        cin = int(layer.input.shape[-1]) * layer.depth_multiplier
        dense = math.prod(int(d) for d in layer.output.shape[1:-1])
        return (_positions(layer, space_to_batch) * cin * kh * kw
                + dense * cin * int(layer.output.shape[-1]))
    if isinstance(layer, keras.layers.Conv2DTranspose):
        kh, kw = layer.kernel_size
        inputs = math.prod(int(d) for d in layer.input.shape[1:])
        return inputs * kh * kw * int(layer.output.shape[-1])
    if isinstance(layer, keras.layers.Conv2D):
        kh, kw = layer.kernel_size
        cin = int(layer.input.shape[-1]) // layer.groups
        return _positions(layer, space_to_batch) * int(layer.output.shape[-1]) * kh * kw * cin
    if isinstance(layer, keras.layers.Dense):
        out = layer.output.shape
        return math.prod(int(d) for d in out[1:-1]) * int(layer.input.shape[-1]) * int(out[-1])
    return 0


def count(model):
    """{"params", "multiply_adds", "multiply_adds_dense"} of a model with a static input."""
    shape = model.inputs[0].shape
    if any(d is None for d in shape[1:]):
        raise ValueError(f"model {model.name!r} has input shape {tuple(shape)}; build it with "
                         "a static input_shape to count multiply-adds")
    batch = shape[0] or 1
    return {
        "params": int(model.count_params()),
        "multiply_adds": sum(layer_multiply_adds(l, True) for l in model.layers) // batch,
        "multiply_adds_dense": sum(layer_multiply_adds(l, False) for l in model.layers) // batch,
    }


def summarize(preset, crop_size=(513, 513), output_stride=None, num_classes=None, **overrides):
    """Builds `preset` at [1, *crop_size, 3] and counts it.

    Returns {"preset", "params", "multiply_adds", "multiply_adds_dense", "crop_size",
    "output_stride", "num_classes"}.
    """
    from deeplab_tf.models.builder import build_model, model_info
    info = model_info(preset, num_classes=num_classes, output_stride=output_stride, **overrides)
    model = build_model(preset, num_classes=num_classes, output_stride=output_stride,
                        batch_size=1, input_shape=tuple(crop_size), **overrides)
    counts = count(model)
    return {"preset": preset, "params": counts["params"],
            "multiply_adds": counts["multiply_adds"],
            "multiply_adds_dense": counts["multiply_adds_dense"],
            "crop_size": list(crop_size), "output_stride": info["output_stride"],
            "num_classes": info["num_classes"]}

"""ONNX export (tf2onnx), with the SavedModel's input conventions.

The graph takes "images" [B, H, W, 3] of any size (uint8 pixels 0..255 by default, or float32
0..255 with input_dtype="float32"; the model's preprocessing is inside) and returns "labels"
int32 [B, H, W] and "probabilities" float32 [B, H, W, C], like the SavedModel's
serving_default. tf2onnx converts the traced tf.function (Keras 3 layers trace to plain TF
ops: Conv2D, DepthwiseConv2dNative, dilated convolutions as SpaceToBatchND/BatchToSpaceND or
as dilations, ResizeBilinear with align_corners, Softmax, ArgMax); opset 17, the default of
onnxruntime's current releases. Measured parity is in BUILD_NOTES.md ("ONNX").
"""
from deeplab_tf.exporters.common import atomic_output, check_model

INPUT_DTYPES = ("uint8", "float32")
OPSET = 17


def convert_to_onnx(model, *, input_dtype="uint8", opset=OPSET):
    """The ONNX ModelProto of `model` (keras.Model [B, H, W, 3] -> logits [B, H, W, C])."""
    import tensorflow as tf
    try:
        import tf2onnx
    except ImportError:
        raise ValueError("--format=onnx needs tf2onnx: pip install 'deeplab_tf[onnx]' "
                         "(tf2onnx and onnxruntime)") from None
    if input_dtype not in INPUT_DTYPES:
        raise ValueError(f"input_dtype={input_dtype!r}; expected one of {INPUT_DTYPES}")
    check_model(model)
    spec = (tf.TensorSpec([None, None, None, 3], getattr(tf, input_dtype), name="images"),)

    @tf.function(input_signature=spec)
    def serve(images):
        logits = tf.cast(model(tf.cast(images, tf.float32), training=False), tf.float32)
        return {"labels": tf.argmax(logits, axis=-1, output_type=tf.int32),
                "probabilities": tf.nn.softmax(logits, axis=-1)}

    proto, _ = tf2onnx.convert.from_function(serve, input_signature=spec, opset=opset)
    return explicit_atrous_padding(proto)


def explicit_atrous_padding(proto):
    """Rewrites dilated stride-1 Conv nodes from auto_pad SAME_UPPER to explicit pads.

    tf2onnx keeps TF's "same" padding as auto_pad=SAME_UPPER, which onnxruntime's CPU
    convolution refuses when the conv is dilated ("Dilation not supported for
    AutoPadType::SAME_UPPER": every atrous ResNet block). At stride 1 "same" padding does not
    depend on the input size, (k - 1) * dilation in total per axis with the extra pixel at the
    end (TF's convention), so it can be written as fixed pads."""
    import onnx
    for node in proto.graph.node:
        if node.op_type != "Conv":
            continue
        attrs = {a.name: a for a in node.attribute}
        auto_pad = attrs.get("auto_pad")
        dilations = list(attrs["dilations"].ints) if "dilations" in attrs else []
        strides = list(attrs["strides"].ints) if "strides" in attrs else []
        kernel = list(attrs["kernel_shape"].ints) if "kernel_shape" in attrs else []
        if (auto_pad is None or auto_pad.s != b"SAME_UPPER" or not kernel
                or all(d == 1 for d in dilations) or any(s != 1 for s in strides)):
            continue
        totals = [(k - 1) * d for k, d in zip(kernel, dilations or [1] * len(kernel))]
        pads = [t // 2 for t in totals] + [t - t // 2 for t in totals]
        node.attribute.remove(auto_pad)
        node.attribute.append(onnx.helper.make_attribute("pads", pads))
    return proto


def export_onnx(model, output, *, overwrite=False, **kwargs):
    """Converts `model` (convert_to_onnx arguments) and writes the .onnx file atomically."""
    with atomic_output(output, overwrite) as staged:
        staged.write_bytes(convert_to_onnx(model, **kwargs).SerializeToString())
    return str(output)

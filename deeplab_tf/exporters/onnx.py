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
    return proto


def export_onnx(model, output, *, overwrite=False, **kwargs):
    """Converts `model` (convert_to_onnx arguments) and writes the .onnx file atomically."""
    with atomic_output(output, overwrite) as staged:
        staged.write_bytes(convert_to_onnx(model, **kwargs).SerializeToString())
    return str(output)

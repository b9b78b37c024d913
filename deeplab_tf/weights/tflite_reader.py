"""Reads the weights of an official DeepLab .tflite file into official TF1 names.

The flatbuffer is parsed with the `tflite` package (the TFLite schema): LiteRT's interpreter
does not expose op options (strides, dilation, padding) and, with its default XNNPACK delegate,
hides the real ops. Every CONV_2D / DEPTHWISE_CONV_2D / FULLY_CONNECTED op gives one layer:

- its scope comes from the filter tensor's name. Float files keep the TF variable name
  ("MobilenetV2/Conv/weights"); converted quantized files fuse several names with ";"
  ("MobilenetV2/Conv/Conv2D_Fold;MobilenetV2/Conv/weights_quant/FakeQuantWithMinMaxVars"),
  so the segment holding "weights" names the scope; op order differs between files, so
  nothing is matched by position;
- its bias is the op's third input, whatever it is called (BatchNorm is folded into it);
- quantized tensors (uint8/int8, per-tensor or per-channel) are dequantized as
  (q - zero_point) * scale; a filter produced by a DEQUANTIZE op (fp16 files) is read from
  that op's input.

Weights come out in TF layouts: conv [kh, kw, in, out], depthwise [kh, kw, in, multiplier],
dense [in, out], under official names "<scope>/weights", "<scope>/depthwise_weights" and
"<scope>/biases" (the folded bias).
"""
import dataclasses
import re

import numpy as np
import tflite

from deeplab_tf.weights.official import LayerInfo, OfficialWeights, OfficialWeightsError

_OPS = {v: k for k, v in vars(tflite.BuiltinOperator).items() if not k.startswith("_")}
_DTYPES = {tflite.TensorType.FLOAT32: np.float32, tflite.TensorType.FLOAT16: np.float16,
           tflite.TensorType.INT32: np.int32, tflite.TensorType.UINT8: np.uint8,
           tflite.TensorType.INT64: np.int64, tflite.TensorType.INT8: np.int8,
           tflite.TensorType.INT16: np.int16}
_ACTIVATIONS = {0: None, 1: "relu", 3: "relu6"}
_PADDINGS = {tflite.Padding.SAME: "same", tflite.Padding.VALID: "valid"}
# "<scope>/weights", "<scope>/depthwise_weights", "<scope>/weights_quant/FakeQuant...".
_WEIGHTS_SEGMENT = re.compile(r"^(?P<scope>.+?)/(?:depthwise_)?weights(?:_quant)?(?:/|$)")


@dataclasses.dataclass
class _Graph:
    path: str
    data: bytes
    model: object
    graph: object

    def tensor(self, index):
        return self.graph.Tensors(index)

    def name(self, index):
        return self.tensor(index).Name().decode("utf-8", "replace")

    def op_name(self, op):
        code = self.model.OperatorCodes(op.OpcodeIndex())
        builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
        if builtin == tflite.BuiltinOperator.CUSTOM:
            return "CUSTOM:" + (code.CustomCode() or b"?").decode()
        return _OPS.get(builtin, str(builtin))

    def raw(self, index):
        """The constant data of tensor `index` as a numpy array, or None if not constant."""
        tensor = self.tensor(index)
        buffer = self.model.Buffers(tensor.Buffer())
        if buffer.Offset() > 1:  # large models keep data outside the flatbuffer
            blob = self.data[buffer.Offset():buffer.Offset() + buffer.Size()]
        elif buffer.DataLength():
            blob = buffer.DataAsNumpy().tobytes()
        else:
            return None
        if tensor.Type() not in _DTYPES:
            raise OfficialWeightsError(f"{self.path}: tensor {self.name(index)!r} has an "
                                       f"unsupported type {tensor.Type()}")
        shape = tensor.ShapeAsNumpy().tolist() if tensor.ShapeLength() else []
        return np.frombuffer(blob, dtype=_DTYPES[tensor.Type()]).reshape(shape)

    def value(self, index, producers):
        """Float value of a constant tensor, dequantized; follows a DEQUANTIZE producer."""
        raw = self.raw(index)
        if raw is None:
            op = producers.get(index)
            if op is not None and self.op_name(op) == "DEQUANTIZE":
                return self.value(op.Inputs(0), producers)
            raise OfficialWeightsError(
                f"{self.path}: weight tensor {self.name(index)!r} holds no constant data")
        quant = self.tensor(index).Quantization()
        if raw.dtype.kind in "iu" and quant is not None and quant.ScaleLength():
            scale = quant.ScaleAsNumpy().astype(np.float64)
            zero = (quant.ZeroPointAsNumpy().astype(np.float64) if quant.ZeroPointLength()
                    else np.zeros_like(scale))
            if scale.size > 1:  # per-channel: broadcast along the quantized dimension
                shape = [1] * raw.ndim
                shape[quant.QuantizedDimension()] = scale.size
                scale, zero = scale.reshape(shape), zero.reshape(shape)
            return ((raw.astype(np.float64) - zero) * scale).astype(np.float32)
        return raw.astype(np.float32)


def _options(op, cls):
    table = op.BuiltinOptions()
    options = cls()
    options.Init(table.Bytes, table.Pos)
    return options


def _scope_of(graph, filter_index, op_index):
    full = graph.name(filter_index)
    for segment in full.split(";"):
        match = _WEIGHTS_SEGMENT.match(segment)
        if match:
            return match.group("scope")
    raise OfficialWeightsError(
        f"{graph.path}: op {op_index} has a filter tensor {full!r} with no official name "
        "(expected a segment like '<scope>/weights' or '<scope>/depthwise_weights')")


# Ops between a branch's last convolution and the concatenation (upsampling, requantizing).
_PASS_THROUGH = ("RESIZE_BILINEAR", "QUANTIZE", "DEQUANTIZE", "RESHAPE", "TILE", "BROADCAST_TO")


def _concat_sources(graph, ops, producers, op_scopes):
    """For each CONCATENATION: the scope of the convolution behind each input, in order
    (the head's branch order must match ours: image_pooling first, then aspp0, ...)."""
    concats = []
    for op in ops:
        if graph.op_name(op) != "CONCATENATION":
            continue
        sources = []
        for j in range(op.InputsLength()):
            tensor = op.Inputs(j)
            while tensor not in op_scopes and tensor in producers and \
                    graph.op_name(producers[tensor]) in _PASS_THROUGH:
                tensor = producers[tensor].Inputs(0)
            sources.append(op_scopes.get(tensor, graph.name(tensor)))
        concats.append(sources)
    return concats


def read_tflite(path):
    """Reads an official DeepLab .tflite file.

    Returns:
      OfficialWeights with folded=True (BatchNorm folded into the biases), per-layer
      op options in `layers`, and the input/output description in `info`.
    Raises:
      OfficialWeightsError: not a TFLite flatbuffer, unnamed or duplicated weights.
    """
    path = str(path)
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 8 or data[4:8] != b"TFL3":
        raise OfficialWeightsError(f"{path} is not a TFLite flatbuffer (no 'TFL3' identifier)")
    try:
        return _read(path, data)
    except OfficialWeightsError:
        raise
    except Exception as error:   # a truncated or damaged flatbuffer: struct.error, IndexError...
        raise OfficialWeightsError(f"{path} is a truncated or corrupt TFLite file "
                                   f"({type(error).__name__}: {error})") from None


def _read(path, data):
    model = tflite.Model.GetRootAsModel(data, 0)
    graph = _Graph(path, data, model, model.Subgraphs(0))
    g = graph.graph
    ops = [g.Operators(i) for i in range(g.OperatorsLength())]
    producers = {op.Outputs(j): op for op in ops for j in range(op.OutputsLength())}
    tensors, layers, resizes, op_names, op_scopes = {}, {}, [], [], {}
    for index, op in enumerate(ops):
        name = graph.op_name(op)
        op_names.append(name)
        if name == "RESIZE_BILINEAR":
            options = _options(op, tflite.ResizeBilinearOptions)
            resizes.append((bool(options.AlignCorners()), bool(options.HalfPixelCenters())))
        if name not in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"):
            continue
        scope = _scope_of(graph, op.Inputs(1), index)
        if scope in layers:
            raise OfficialWeightsError(f"{path}: two ops carry the weights of {scope!r}")
        kernel = graph.value(op.Inputs(1), producers)
        if name == "CONV_2D":  # [out, kh, kw, in] -> [kh, kw, in, out]
            kernel, key, options = (kernel.transpose(1, 2, 3, 0), "weights",
                                    _options(op, tflite.Conv2DOptions))
        elif name == "DEPTHWISE_CONV_2D":  # [1, kh, kw, in*mult] -> [kh, kw, in, mult]
            options = _options(op, tflite.DepthwiseConv2DOptions)
            in_channels = graph.tensor(op.Inputs(0)).ShapeAsNumpy()[-1]
            kernel = kernel.reshape(kernel.shape[1], kernel.shape[2], in_channels, -1)
            key = "depthwise_weights"
        else:  # FULLY_CONNECTED [out, in] -> [in, out]
            kernel, key, options = kernel.T, "weights", None
        tensors[f"{scope}/{key}"] = kernel
        op_scopes[op.Outputs(0)] = scope
        if op.InputsLength() > 2 and op.Inputs(2) >= 0:
            tensors[f"{scope}/biases"] = graph.value(op.Inputs(2), producers)
        layers[scope] = LayerInfo(
            kind={"CONV_2D": "conv", "DEPTHWISE_CONV_2D": "depthwise"}.get(name, "dense"),
            stride=(options.StrideH(), options.StrideW()) if options else (1, 1),
            rate=(options.DilationHFactor(), options.DilationWFactor()) if options else (1, 1),
            padding=_PADDINGS.get(options.Padding()) if options else None,
            activation=_ACTIVATIONS.get(options.FusedActivationFunction(), "other")
            if options else None,
            order=index)
    if not layers:
        custom = sorted({n for n in op_names if n.startswith("CUSTOM:")})
        raise OfficialWeightsError(
            f"{path}: no CONV_2D/DEPTHWISE_CONV_2D weights found (ops: {sorted(set(op_names))})"
            + (f"; weights inside custom ops {custom} (e.g. Edge TPU compiled files) cannot be "
               "read: use the file before compilation" if custom else ""))
    image = graph.tensor(g.Inputs(0))
    quant = image.Quantization()
    info = {
        "source": path, "format": "tflite",
        "input_name": graph.name(g.Inputs(0)),
        "input_shape": image.ShapeAsNumpy().tolist(),
        "input_dtype": np.dtype(_DTYPES.get(image.Type(), np.float32)).name,
        "input_quantization": ((float(quant.ScaleAsNumpy()[0]), int(quant.ZeroPointAsNumpy()[0]))
                               if quant is not None and quant.ScaleLength() else None),
        "output_shape": graph.tensor(g.Outputs(0)).ShapeAsNumpy().tolist(),
        "ops": op_names,
        "resize_align_corners": resizes,
        "concats": _concat_sources(graph, ops, producers, op_scopes),
    }
    return OfficialWeights(tensors=tensors, folded=True, layers=layers, info=info)

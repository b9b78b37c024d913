"""Writes edited copies of official .tflite files, to test the reader on file variants the
shared folder does not hold (TFLite metadata, per-channel int8 weights, fp16 weights behind
DEQUANTIZE ops, renamed tensors). Uses the object API of LiteRT's flatbuffer schema."""
import flatbuffers
import numpy as np
from ai_edge_litert import schema_py_generated as schema


def load(path):
    with open(path, "rb") as f:
        return schema.ModelT.InitFromPackedBuf(f.read(), 0)


def save(model, path):
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    with open(path, "wb") as f:
        f.write(builder.Output())
    return path


def _opcode(model, builtin):
    for index, code in enumerate(model.operatorCodes):
        if max(code.builtinCode, code.deprecatedBuiltinCode) == builtin:
            return index
    code = schema.OperatorCodeT()
    code.builtinCode = builtin
    code.deprecatedBuiltinCode = min(builtin, 127)
    code.version = 1
    model.operatorCodes.append(code)
    return len(model.operatorCodes) - 1


def _add_buffer(model, data):
    buffer = schema.BufferT()
    buffer.data = np.frombuffer(data, np.uint8)
    model.buffers.append(buffer)
    return len(model.buffers) - 1


def weight_ops(model):
    """(op, filter tensor, is depthwise) of every CONV_2D and DEPTHWISE_CONV_2D."""
    graph = model.subgraphs[0]
    kinds = {schema.BuiltinOperator.CONV_2D: False,
             schema.BuiltinOperator.DEPTHWISE_CONV_2D: True}
    for op in graph.operators:
        code = model.operatorCodes[op.opcodeIndex]
        builtin = max(code.builtinCode, code.deprecatedBuiltinCode)
        if builtin in kinds:
            yield op, graph.tensors[op.inputs[1]], kinds[builtin]


def filter_value(model, tensor):
    raw = model.buffers[tensor.buffer].data
    return np.frombuffer(np.asarray(raw, np.uint8).tobytes(), np.float32).reshape(tensor.shape)


def add_metadata(model, name=b"TFLITE_METADATA", payload=b'{"name": "deeplabv3"}'):
    metadata = schema.MetadataT()
    metadata.name = name
    metadata.buffer = _add_buffer(model, payload)
    model.metadata = (model.metadata or []) + [metadata]
    return model


def quantize_per_channel(model):
    """Float filters -> int8 per-channel (axis 0 for conv, 3 for depthwise) with non-zero
    zero points. Returns {tensor name: the dequantized float values the reader must give}."""
    expected = {}
    for _, tensor, depthwise in weight_ops(model):
        value = filter_value(model, tensor)
        axis = 3 if depthwise else 0  # the output-channel axis of each TFLite filter layout
        moved = np.moveaxis(value, axis, 0).reshape(value.shape[axis], -1)
        low, high = np.minimum(moved.min(1), 0), np.maximum(moved.max(1), 0)
        scale = np.maximum(high - low, 1e-8) / 255.0
        zero = np.round(-128 - low / scale).astype(np.int64)
        shape = [1] * value.ndim
        shape[axis] = -1
        q = np.clip(np.round(value / scale.reshape(shape)) + zero.reshape(shape), -128, 127)
        expected[tensor.name.decode()] = ((q - zero.reshape(shape)) * scale.reshape(shape))
        tensor.type = schema.TensorType.INT8
        tensor.buffer = _add_buffer(model, q.astype(np.int8).tobytes())
        quant = schema.QuantizationParametersT()
        quant.scale, quant.zeroPoint, quant.quantizedDimension = list(scale), list(zero), axis
        tensor.quantization = quant
    return expected


def float16_behind_dequantize(model):
    """Each float filter becomes an fp16 constant feeding a DEQUANTIZE op (the layout of
    TFLite fp16-quantized files); the conv's filter tensor then holds no data."""
    graph = model.subgraphs[0]
    dequantize = _opcode(model, schema.BuiltinOperator.DEQUANTIZE)
    new_ops = []
    for op, tensor, _ in list(weight_ops(model)):
        half = schema.TensorT()
        half.shape, half.type = list(tensor.shape), schema.TensorType.FLOAT16
        half.name = tensor.name + b"_fp16"
        half.buffer = _add_buffer(model, filter_value(model, tensor).astype(np.float16).tobytes())
        graph.tensors.append(half)
        empty = schema.BufferT()
        model.buffers.append(empty)
        tensor.buffer = len(model.buffers) - 1
        producer = schema.OperatorT()
        producer.opcodeIndex, producer.inputs = dequantize, [len(graph.tensors) - 1]
        producer.outputs = [op.inputs[1]]
        new_ops.append(producer)
    graph.operators = new_ops + list(graph.operators)
    return model


def rename_tensors(model, old, new):
    for tensor in model.subgraphs[0].tensors:
        tensor.name = tensor.name.replace(old, new)
    return model


def ops_of(model, builtin):
    graph = model.subgraphs[0]
    return [op for op in graph.operators
            if max(model.operatorCodes[op.opcodeIndex].builtinCode,
                   model.operatorCodes[op.opcodeIndex].deprecatedBuiltinCode) == builtin]


def swap_concat_inputs(model):
    for op in ops_of(model, schema.BuiltinOperator.CONCATENATION):
        op.inputs = list(reversed(list(op.inputs)))
    return model


def resize_half_pixel(model):
    for op in ops_of(model, schema.BuiltinOperator.RESIZE_BILINEAR):
        op.builtinOptions.alignCorners, op.builtinOptions.halfPixelCenters = False, True
    return model


def set_activation(model, scope, activation):
    """Sets the fused activation of the conv whose filter is named `scope`/weights."""
    for op, tensor, _ in weight_ops(model):
        if tensor.name.decode().startswith(scope + "/"):
            op.builtinOptions.fusedActivationFunction = activation
    return model

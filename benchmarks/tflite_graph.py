"""Read, build and slice .tflite flatbuffers without TensorFlow, through the schema and the
flatbuffer tools that ship in ai_edge_litert (verified with ai-edge-litert 2.3.0):

- `Builder` writes a small model from scratch (the roof probes: one FULLY_CONNECTED or
  CONV_2D, fp32 or int8);
- `graph_ops` lists subgraph 0's operators in execution order with their tensors;
- `single_op_model` cuts one operator out of a model into a model of its own, with the same
  tensors, quantization parameters and constant buffers (used for per-layer timing).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path

import numpy as np

DTYPES = {"float32": 0, "float16": 1, "int32": 2, "uint8": 3, "int64": 4, "bool": 6, "int16": 7, "int8": 9,
          "float64": 10}  # schema TensorType
NUMPY_DTYPES = {code: name for name, code in DTYPES.items()}


def _schema():
    from ai_edge_litert import schema_py_generated as fb

    return fb


def builtin_name(code: int) -> str:
    fb = _schema()
    names = {v: k for k, v in vars(fb.BuiltinOperator).items() if not k.startswith("_")}
    return names.get(code, f"BUILTIN_{code}")


class Builder:
    """A one-subgraph model assembled tensor by tensor and op by op."""

    def __init__(self, description: str = "convbench probe"):
        fb = _schema()
        self._fb, self.description = fb, description
        self.tensors, self.ops, self.buffers, self.opcodes = [], [], [fb.BufferT()], []

    def tensor(self, name: str, shape, dtype: str, data: np.ndarray | None = None, scale=None,
               zero_point=None, quantized_dimension: int = 0) -> int:
        fb = self._fb
        t = fb.TensorT()
        t.name, t.shape, t.type = name, [int(d) for d in shape], DTYPES[dtype]
        t.buffer = 0
        if data is not None:
            buf = fb.BufferT()
            buf.data = np.frombuffer(np.ascontiguousarray(data).tobytes(), dtype=np.uint8)
            self.buffers.append(buf)
            t.buffer = len(self.buffers) - 1
        if scale is not None:
            q = fb.QuantizationParametersT()
            q.scale = [float(s) for s in np.atleast_1d(scale)]
            q.zeroPoint = [int(z) for z in np.atleast_1d(zero_point if zero_point is not None else 0)]
            q.quantizedDimension = quantized_dimension
            t.quantization = q
        self.tensors.append(t)
        return len(self.tensors) - 1

    def op(self, builtin: str, inputs, outputs, options=None, options_type: str | None = None,
           version: int = 1) -> None:
        fb = self._fb
        code = getattr(fb.BuiltinOperator, builtin)
        key = (code, version)
        if key not in self.opcodes:
            self.opcodes.append(key)
        op = fb.OperatorT()
        op.opcodeIndex, op.inputs, op.outputs = self.opcodes.index(key), list(inputs), list(outputs)
        if options is not None:
            op.builtinOptionsType = getattr(fb.BuiltinOptions, options_type)
            op.builtinOptions = options
        self.ops.append(op)

    def options(self, name: str, **fields):
        """A builtin options object, e.g. options('FullyConnectedOptionsT', fusedActivationFunction=0)."""
        obj = getattr(self._fb, name)()
        for key, value in fields.items():
            setattr(obj, key, value)
        return obj

    def build(self, inputs, outputs) -> bytes:
        fb = self._fb
        sg = fb.SubGraphT()
        sg.tensors, sg.inputs, sg.outputs = self.tensors, list(inputs), list(outputs)
        sg.operators, sg.name = self.ops, "main"
        codes = []
        for code, version in self.opcodes:
            oc = fb.OperatorCodeT()
            oc.builtinCode, oc.deprecatedBuiltinCode, oc.version = code, min(code, 127), version
            codes.append(oc)
        model = fb.ModelT()
        model.version, model.operatorCodes, model.subgraphs = 3, codes, [sg]
        model.buffers, model.description = self.buffers, self.description
        return _pack(model)


def _pack(model) -> bytes:
    from ai_edge_litert.tools import flatbuffer_utils

    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))


def read_model(source: Path | bytes):
    """The model as the schema's object API (ModelT), buffers resolved."""
    from ai_edge_litert.tools import flatbuffer_utils

    data = Path(source).read_bytes() if isinstance(source, (str, Path)) else bytes(source)
    model = flatbuffer_utils.read_model_from_bytearray(bytearray(data))
    for buf in model.buffers:  # offset-resolved buffers come back as bytearray slices
        if buf.data is not None and not isinstance(buf.data, np.ndarray):
            buf.data = np.frombuffer(bytes(buf.data), dtype=np.uint8)
    return model


@dataclass(frozen=True)
class GraphOp:
    index: int                 # position in subgraph 0's operator list = execution order
    op_type: str               # "CONV_2D", "FULLY_CONNECTED", ...
    inputs: tuple[int, ...]    # tensor indices, -1 = optional input absent
    outputs: tuple[int, ...]
    name: str                  # the first output tensor's name (the converter keeps Keras names)
    folded: bool               # every input is constant: the runtime computes it once at init


def _op_type(model, op) -> str:
    code = model.operatorCodes[op.opcodeIndex]
    builtin = max(code.builtinCode, code.deprecatedBuiltinCode)
    if code.customCode:
        return f"CUSTOM:{code.customCode.decode() if isinstance(code.customCode, bytes) else code.customCode}"
    return builtin_name(builtin)


def _name(tensor) -> str:
    return tensor.name.decode() if isinstance(tensor.name, bytes) else str(tensor.name)


def constant_tensors(model) -> set[int]:
    """Tensors with data in the file, plus outputs of ops whose inputs are all constant
    (e.g. fp16 weights through DEQUANTIZE: computed once, not per inference)."""
    sg = model.subgraphs[0]
    const = {i for i, t in enumerate(sg.tensors)
             if t.buffer > 0 and model.buffers[t.buffer].data is not None and len(model.buffers[t.buffer].data)}
    for op in sg.operators:
        if all(i < 0 or i in const for i in op.inputs) and any(i >= 0 for i in op.inputs):
            const.update(op.outputs)
    return const


def graph_ops(model) -> list[GraphOp]:
    sg, const = model.subgraphs[0], constant_tensors(model)
    ops = []
    for index, op in enumerate(sg.operators):
        folded = all(i < 0 or i in const for i in op.inputs) and any(i >= 0 for i in op.inputs)
        ops.append(GraphOp(index, _op_type(model, op), tuple(int(i) for i in op.inputs),
                           tuple(int(i) for i in op.outputs), _name(sg.tensors[op.outputs[0]]), folded))
    return ops


def single_op_model(model, op_index: int) -> tuple[bytes, list[int]]:
    """A model running operator `op_index` alone: its non-constant inputs become the model's
    inputs, its outputs the model's outputs, constant inputs keep their buffers (and the
    folded ops that make them, such as DEQUANTIZE of fp16 weights, come along).
    Returns the flatbuffer bytes and the ORIGINAL indices of the new model's inputs, in order."""
    fb = _schema()
    sg, const = model.subgraphs[0], constant_tensors(model)
    producer = {t: i for i, op in enumerate(sg.operators) for t in op.outputs}
    wanted, stack = [op_index], [op_index]
    while stack:  # constant-producing ancestors of the op's constant inputs
        for t in sg.operators[stack.pop()].inputs:
            p = producer.get(t)
            if t >= 0 and t in const and p is not None and p not in wanted:
                wanted.append(p)
                stack.append(p)
    wanted.sort()
    produced = {t for i in wanted for t in sg.operators[i].outputs}
    graph_inputs = []
    for i in wanted:
        for t in sg.operators[i].inputs:
            if t >= 0 and t not in const and t not in produced and t not in graph_inputs:
                graph_inputs.append(int(t))

    tensor_map, buffer_map, tensors, buffers = {}, {0: 0}, [], [fb.BufferT()]

    def remap(t: int) -> int:
        if t < 0:
            return t
        if t not in tensor_map:
            new = copy.copy(sg.tensors[t])
            if new.buffer not in buffer_map:
                buffer_map[new.buffer] = len(buffers)
                buffers.append(model.buffers[new.buffer])
            new.buffer = buffer_map[new.buffer]
            tensor_map[t] = len(tensors)
            tensors.append(new)
        return tensor_map[t]

    ops = []
    for i in wanted:
        op = copy.copy(sg.operators[i])
        op.inputs, op.outputs = [remap(t) for t in op.inputs], [remap(t) for t in op.outputs]
        op.intermediates = [remap(t) for t in op.intermediates] if op.intermediates else None
        ops.append(op)
    new_sg = fb.SubGraphT()
    new_sg.tensors, new_sg.operators, new_sg.name = tensors, ops, "main"
    new_sg.inputs = [remap(t) for t in graph_inputs]
    new_sg.outputs = [remap(t) for t in sg.operators[op_index].outputs]
    new = fb.ModelT()
    new.version, new.operatorCodes, new.subgraphs, new.buffers = model.version, model.operatorCodes, [new_sg], buffers
    new.description = b"single op sliced by convbench"
    return _pack(new), graph_inputs


def op_ops(model, op: GraphOp):
    """LayerOps of CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED and BATCH_MATMUL from the
    tensors' shapes (see layer_ops for the two counts); NO_OPS for every other op."""
    from convbench.benchmarks import layer_ops as lo

    sg = model.subgraphs[0]
    shape = lambda t: [int(d) for d in sg.tensors[t].shape]  # noqa: E731
    if op.op_type in ("CONV_2D", "DEPTHWISE_CONV_2D"):
        opts = sg.operators[op.index].builtinOptions
        n, h, w, c = shape(op.inputs[0])
        _, kh, kw, o = shape(op.inputs[1])   # CONV_2D: [out, kh, kw, in/groups]; depthwise: [1, kh, kw, out]
        if op.op_type == "CONV_2D":
            o, per_group = shape(op.inputs[1])[0], shape(op.inputs[1])[3]
        else:
            per_group = 1
        _, oh, ow, _ = shape(op.outputs[0])
        strides, dil = (opts.strideH, opts.strideW), (opts.dilationHFactor or 1, opts.dilationWFactor or 1)
        same = opts.padding == _schema().Padding.SAME
        pads = tuple(lo.same_padding(size, k, s, d)[0] if same else 0
                     for size, k, s, d in zip((h, w), (kh, kw), strides, dil))
        return lo.conv_ops((h, w), (oh, ow), (kh, kw), strides, pads, dil, per_group, o, batch=n)
    if op.op_type == "FULLY_CONNECTED":
        out_features, inner = shape(op.inputs[1])
        return lo.gemm_ops(lo.rows_of(shape(op.inputs[0]), inner), inner, out_features)
    if op.op_type == "BATCH_MATMUL":
        a, out = shape(op.inputs[0]), shape(op.outputs[0])
        inner = a[-2] if sg.operators[op.index].builtinOptions.adjX else a[-1]
        return lo.gemm_ops(lo.rows_of(out, out[-1]), inner, out[-1])
    return lo.NO_OPS

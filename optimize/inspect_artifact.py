"""Read the weights back out of an exported artifact (not the Keras model it came from), so
that parameter counts, sparsity and unique values describe what is actually deployed."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from convbench.core.formats import family_of_path
from convbench.core.records import WeightStats

# Ops whose weight inputs are the model's parameters (input 1: kernel, input 2: bias).
TFLITE_WEIGHT_OPS = {"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"}
ONNX_WEIGHT_OPS = {"Conv", "Gemm", "MatMul", "ConvInteger", "MatMulInteger", "QLinearConv", "QLinearMatMul"}


def tflite_weights(path: Path) -> WeightStats:
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    # Without default delegates, so the op list shows the real ops instead of one DELEGATE node.
    interp = Interpreter(model_path=str(path),
                         experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    interp.allocate_tensors()
    tensors = {t["index"]: t for t in interp.get_tensor_details()}
    ops = interp._get_ops_details()  # private, but the only reader of op inputs LiteRT ships
    producer = {out: op for op in ops for out in op["outputs"]}
    arrays: list[tuple[str, np.ndarray, bool]] = []
    for op in ops:
        if op["op_name"] not in TFLITE_WEIGHT_OPS:
            continue
        for position, index in enumerate(op["inputs"][1:3], start=1):
            if index < 0:
                continue
            # fp16 and some int8 files store weights behind a DEQUANTIZE op: read its input.
            source = producer.get(index)
            if source is not None and source["op_name"] == "DEQUANTIZE":
                index = source["inputs"][0]
            arrays.append((tensors[index]["name"], interp.get_tensor(index), position == 1))
    return _stats(arrays)


def onnx_weights(path: Path) -> WeightStats:
    import onnx
    from onnx import numpy_helper

    graph = onnx.load(str(path)).graph
    init = {t.name: t for t in graph.initializer}
    producer = {out: node for node in graph.node for out in node.output}
    consumers: dict[str, list] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    arrays = []
    for node in graph.node:
        if node.op_type not in ONNX_WEIGHT_OPS:
            continue
        inputs = list(node.input[3:4] if node.op_type.startswith("QLinear") else node.input[1:3])
        if node.op_type == "MatMul":
            # tf2onnx writes Dense as MatMul + Add: the Add's constant input is the bias.
            adds = [c for c in consumers.get(node.output[0], []) if c.op_type == "Add"]
            inputs += [i for add in adds[:1] for i in add.input if i != node.output[0]]
        for position, name in enumerate(inputs, start=1):
            name = _through(name, producer, init)
            if name in init:
                arrays.append((name, numpy_helper.to_array(init[name]), position == 1))
    return _stats(arrays)


def _through(name: str, producer: dict, init: dict) -> str:
    """Follow DequantizeLinear / Transpose / Cast back to the stored initializer."""
    passthrough = ("DequantizeLinear", "Transpose", "Cast", "Reshape")
    while name not in init and name in producer and producer[name].op_type in passthrough:
        name = producer[name].input[0]
    return name


def _stats(arrays) -> WeightStats:
    seen, params, nonzero, unique = set(), 0, 0, {}
    for name, values, is_kernel in arrays:
        if name in seen:          # one tensor can feed several ops
            continue
        seen.add(name)
        params += values.size
        nonzero += int(np.count_nonzero(values))
        if is_kernel:
            unique[name] = int(np.unique(values).size)
    return WeightStats(params=params, nonzero_params=nonzero, unique_values_per_layer=unique)


def artifact_weights(path: Path) -> WeightStats:
    readers = {"tflite": tflite_weights, "onnx": onnx_weights}
    family = family_of_path(path)
    if family not in readers:
        raise ValueError(f"{path}: no weight reader for {family} files")
    return readers[family](path)

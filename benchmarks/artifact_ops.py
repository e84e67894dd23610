"""What one call of an artifact computes and moves, read from the file itself (not from the Keras
model it came from): ops per image under records.roofs.OPS_COUNT (and the dense count beside
it), and the bytes of the stored weights and of one image's input and output.

Counted in the bench, once per file per session (a few ms for .tflite, ~50 ms for .onnx shape
inference), rather than at optimize time: the count must describe the exact file that is timed
(its sha256 is checked), and it then needs no manifest field, so manifests written before work."""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class ArtifactOps:
    ops_real: int                  # per image, OPS_COUNT
    ops_dense: int                 # per image, zero-padded border taps included (models/flops.py's count)
    weight_bytes: int              # constant data as stored in the file
    input_bytes_per_image: int
    output_bytes_per_image: int

    def bytes_per_call(self, batch: int) -> int:
        """The least one call moves: every stored weight once, the batch's input and output."""
        return self.weight_bytes + batch * (self.input_bytes_per_image + self.output_bytes_per_image)


@cache
def count_file(path: str) -> ArtifactOps:
    suffix = Path(path).suffix
    if suffix == ".tflite":
        return _tflite(Path(path))
    if suffix == ".onnx":
        return _onnx(Path(path))
    raise ValueError(f"{path}: ops are counted from .tflite and .onnx files only")


def _per_image_bytes(shape, itemsize: int) -> int:
    return math.prod(max(int(d), 1) for d in list(shape)[1:]) * itemsize


def _tflite(path: Path) -> ArtifactOps:
    from convbench.benchmarks import tflite_graph as tg

    model = tg.read_model(path)
    sg = model.subgraphs[0]
    counts = [tg.op_ops(model, op) for op in tg.graph_ops(model)]
    stored = {t.buffer for t in sg.tensors if t.buffer > 0}
    weight_bytes = sum(len(model.buffers[b].data) for b in stored if model.buffers[b].data is not None)
    io = [sg.tensors[sg.inputs[0]], sg.tensors[sg.outputs[0]]]
    sizes = [_per_image_bytes(t.shape, np.dtype(tg.NUMPY_DTYPES[t.type]).itemsize) for t in io]
    return ArtifactOps(sum(c.ops_real for c in counts), sum(c.ops_dense for c in counts), weight_bytes, *sizes)


def _onnx(path: Path) -> ArtifactOps:
    import onnx
    from onnx import helper

    from convbench.benchmarks.layers_onnx import node_ops

    model = onnx.load(str(path))
    dim0 = model.graph.input[0].type.tensor_type.shape.dim[0]
    dim0.Clear()
    dim0.dim_value = 1
    _topological_sort(model.graph)   # shape inference walks the nodes in file order
    model = onnx.shape_inference.infer_shapes(model)
    shapes = {i.name: list(i.dims) for i in model.graph.initializer}
    for v in [*model.graph.input, *model.graph.value_info, *model.graph.output]:
        shapes[v.name] = [d.dim_value for d in v.type.tensor_type.shape.dim]
    counts = [node_ops(node, shapes, {"input_type_shape": [{"t": shapes[node.input[0]]}],
                                      "output_type_shape": [{"t": shapes[node.output[0]]}]})
              for node in model.graph.node
              if node.input and node.output and node.input[0] in shapes and node.output[0] in shapes]
    weight_bytes = sum(math.prod(i.dims) * helper.tensor_dtype_to_np_dtype(i.data_type).itemsize
                       for i in model.graph.initializer)
    sizes = [_per_image_bytes([d.dim_value for d in v.type.tensor_type.shape.dim],
                              helper.tensor_dtype_to_np_dtype(v.type.tensor_type.elem_type).itemsize)
             for v in (model.graph.input[0], model.graph.output[0])]
    return ArtifactOps(sum(c.ops_real for c in counts), sum(c.ops_dense for c in counts), weight_bytes, *sizes)


def _topological_sort(graph) -> None:
    """Reorder graph.node so that every node follows its producers (onnxruntime's fp16
    converter appends the input Cast at the end of the list)."""
    ready = {i.name for i in graph.input} | {i.name for i in graph.initializer} | {""}
    pending, ordered = list(graph.node), []
    while pending:
        progress = [n for n in pending if all(i in ready for i in n.input)]
        if not progress:
            ordered.extend(pending)   # a cycle or a subgraph reference: keep the rest as is
            break
        for n in progress:
            ordered.append(n)
            ready.update(n.output)
            pending.remove(n)
    nodes = [type(n)() for n in ordered]
    for copy, n in zip(nodes, ordered):
        copy.CopyFrom(n)
    del graph.node[:]
    graph.node.extend(nodes)

"""The `null` runtime: run() returns a constant array of the model's output shape, so its
timings are the benchmark harness's own overhead (subtract nothing, compare against it)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from convbench import __version__
from convbench.core.formats import family_of_path
from convbench.core.runtimes.base import Plans, Runtime, Session, single_io


def _io_shapes(path: Path) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Per-item input and output shapes (batch dimension dropped) read from the artifact."""
    if family_of_path(path) == "tflite":
        from ai_edge_litert.interpreter import Interpreter

        interp = Interpreter(model_path=str(path))
        ins, outs = interp.get_input_details(), interp.get_output_details()
        single_io("null", path, len(ins), len(outs))
        return tuple(int(d) for d in ins[0]["shape"][1:]), tuple(int(d) for d in outs[0]["shape"][1:])
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    inits = {i.name for i in graph.initializer}
    ins = [i for i in graph.input if i.name not in inits]  # old opsets list weights as inputs
    single_io("null", path, len(ins), len(graph.output))

    def dims(value_info) -> tuple[int, ...]:
        return tuple(d.dim_value for d in value_info.type.tensor_type.shape.dim[1:])

    return dims(ins[0]), dims(graph.output[0])


class NullSession(Session):
    def __init__(self, path: Path, batch: int):
        item_in, item_out = _io_shapes(path)
        self.runtime, self.batch, self.device_used, self.providers = "null", batch, "cpu", ("none",)
        self.input_shape, self.output_shape = (batch, *item_in), (batch, *item_out)
        self._out = np.full(self.output_shape, 1.0 / max(1, int(np.prod(item_out))), dtype=np.float32)

    def run(self, feed):
        return self._out


class NullRuntime(Runtime):
    name, formats = "null", ("tflite", "onnx")

    def __init__(self, plans: Plans = Plans()):
        self.plans = plans

    def version(self) -> str:
        return f"convbench {__version__}"

    def import_modules(self) -> None:
        pass  # numpy only; the shape lookup at load is not what is being measured

    def _load(self, path, device, threads, batch):
        return NullSession(path, batch)

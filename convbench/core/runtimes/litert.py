"""LiteRT (ai_edge_litert) runtimes for .tflite files, with XNNPACK (the default) or without
it (builtin kernels only). Never imports TensorFlow: tf.lite.Interpreter would pull all of it."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from convbench.core.runtimes.base import Plans, Runtime, Session, package_version, single_io
from convbench.core.runtimes.int8_io import dequantize_output, quantize_input


class LiteRTSession(Session):
    def __init__(self, path: Path, name: str, xnnpack: bool, threads: int | None, batch: int):
        from ai_edge_litert.interpreter import Interpreter, OpResolverType

        # experimental_delegates=[] does NOT turn XNNPACK off; only this resolver type does.
        resolver = OpResolverType.AUTO if xnnpack else OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
        self._interp = Interpreter(model_path=str(path), num_threads=threads,
                                   experimental_op_resolver_type=resolver)
        ins, outs = self._interp.get_input_details(), self._interp.get_output_details()
        single_io(name, path, len(ins), len(outs))
        self._in, self._out_index = ins[0], outs[0]["index"]
        self._interp.resize_tensor_input(self._in["index"], [batch, *self._in["shape"][1:]])
        self._interp.allocate_tensors()
        self._in = self._interp.get_input_details()[0]
        out = self._interp.get_output_details()[0]
        self._out = out
        self.runtime, self.batch, self.device_used = name, batch, "cpu"
        self.input_shape = tuple(int(d) for d in self._in["shape"])
        self.output_shape = tuple(int(d) for d in out["shape"])
        self.input_dtype, self.output_dtype = np.dtype(self._in["dtype"]).name, np.dtype(out["dtype"]).name
        # What really executes it: a DELEGATE node means XNNPACK took (part of) the graph.
        ops = {op["op_name"] for op in self._interp._get_ops_details()}
        self.providers = ("XNNPACK", "builtin") if "DELEGATE" in ops else ("builtin",)

    def _prepare(self, x):
        return quantize_input(x, self._in)  # full-integer model: quantize like the converter did

    def run(self, feed):
        self._interp.set_tensor(self._in["index"], feed)
        self._interp.invoke()
        return self._interp.get_tensor(self._out_index)  # a copy: safe after the next invoke

    def postprocess(self, raw):
        return dequantize_output(raw, self._out)


class LiteRTRuntime(Runtime):
    formats, devices = ("tflite",), ("cpu",)

    def __init__(self, name: str, xnnpack: bool, plans: Plans = Plans()):
        self.name, self.xnnpack, self.plans = name, xnnpack, plans

    def version(self) -> str:
        return package_version("ai-edge-litert")

    def import_modules(self) -> None:
        import ai_edge_litert.interpreter  # noqa: F401

    def _gpu_check(self):
        return False, "the ai-edge-litert wheel has no desktop GPU delegate"

    def _load(self, path, device, threads, batch):
        return LiteRTSession(path, self.name, self.xnnpack, threads, batch)

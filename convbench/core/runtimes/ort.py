"""ONNX Runtime runtimes: CPU EP at full or basic graph optimization, CUDA EP on device="gpu",
and TensorRT EP. Checks the providers the session really got: ORT silently falls back to CPU."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from convbench.core.runtimes.base import DeviceUnavailable, Plans, Runtime, Session, package_version, single_io
from convbench.core.errors import UserError

GPU_EP = {"cuda": "CUDAExecutionProvider", "tensorrt": "TensorrtExecutionProvider"}


class OrtSession(Session):
    def __init__(self, path: Path, name: str, opt_level: str, ep: str | None, threads: int | None, batch: int):
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads or 0  # 0 = ORT's default (one per physical core)
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.graph_optimization_level = getattr(ort.GraphOptimizationLevel, opt_level)
        wanted = [GPU_EP[ep], "CPUExecutionProvider"] if ep else ["CPUExecutionProvider"]
        if ep == "tensorrt":
            wanted.insert(1, GPU_EP["cuda"])  # TensorRT hands the nodes it cannot take to CUDA
        self._sess = ort.InferenceSession(str(path), sess_options=opts, providers=wanted)
        self.providers = tuple(self._sess.get_providers())
        if ep and GPU_EP[ep] not in self.providers:
            raise DeviceUnavailable(f"{name}: asked ORT for {GPU_EP[ep]} but the session runs on "
                                    f"{list(self.providers)}; refusing to label a CPU run 'gpu'")
        ins, outs = self._sess.get_inputs(), self._sess.get_outputs()
        single_io(name, path, len(ins), len(outs))
        self._in_name, self._out_names = ins[0].name, [outs[0].name]
        self.runtime, self.batch, self.device_used = name, batch, "gpu" if ep else "cpu"
        # The batch dimension is symbolic (tf2onnx with input_signature batch None).
        self.input_shape = (batch, *(int(d) for d in ins[0].shape[1:]))
        self.output_shape = (batch, *(int(d) for d in outs[0].shape[1:]))
        if ins[0].type != "tensor(float)":
            raise UserError(f"{path}: input type {ins[0].type}; the benchmarks feed float32")

    def _prepare(self, x):
        return {self._in_name: x}

    def run(self, feed):
        return self._sess.run(self._out_names, feed)[0]

    def postprocess(self, raw):
        return np.asarray(raw, dtype=np.float32)


class OrtRuntime(Runtime):
    formats = ("onnx",)

    def __init__(self, name: str, opt_level: str = "ORT_ENABLE_ALL", gpu_ep: str | None = "cuda",
                 cpu: bool = True, plans: Plans = Plans()):
        self.name, self.opt_level, self.gpu_ep, self.plans = name, opt_level, gpu_ep, plans
        self.devices = (("cpu",) if cpu else ()) + (("gpu",) if gpu_ep else ())

    def version(self) -> str:
        return package_version("onnxruntime", "onnxruntime-gpu")

    def import_modules(self) -> None:
        import onnxruntime  # noqa: F401

    def _gpu_check(self):
        import onnxruntime as ort

        if GPU_EP[self.gpu_ep] not in ort.get_available_providers():
            return False, (f"{package_version('onnxruntime', 'onnxruntime-gpu')} lacks {GPU_EP[self.gpu_ep]} "
                           f"(has {ort.get_available_providers()}); install onnxruntime-gpu: make gpu-env")
        return True, ""

    def _load(self, path, device, threads, batch):
        return OrtSession(path, self.name, self.opt_level, self.gpu_ep if device == "gpu" else None, threads, batch)

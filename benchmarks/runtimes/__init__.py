"""The registry of runtimes the benchmarks can run: name -> configured Runtime. Importing it
imports no inference library; each runtime imports its own when it loads."""

from __future__ import annotations

from convbench.benchmarks.runtimes.base import DeviceUnavailable, Runtime, Session, artifact_format
from convbench.benchmarks.runtimes.gpu import gpu_available
from convbench.benchmarks.runtimes.keras_tf import KerasRuntime
from convbench.benchmarks.runtimes.litert import LiteRTRuntime
from convbench.benchmarks.runtimes.null import NullRuntime
from convbench.benchmarks.runtimes.ort import OrtRuntime
from convbench.errors import UserError

RUNTIMES: dict[str, Runtime] = {
    r.name: r
    for r in (
        NullRuntime(),
        KerasRuntime("keras_eager", "eager"),
        KerasRuntime("tf_function", "function"),
        KerasRuntime("tf_xla", "xla"),
        LiteRTRuntime("litert", xnnpack=True),
        LiteRTRuntime("litert_noxnnpack", xnnpack=False),
        OrtRuntime("onnxruntime", "ORT_ENABLE_ALL", gpu_ep="cuda"),
        OrtRuntime("onnxruntime_basic", "ORT_ENABLE_BASIC", gpu_ep=None),
        OrtRuntime("onnxruntime_trt", "ORT_ENABLE_ALL", gpu_ep="tensorrt", cpu=False),
    )
}


def get_runtimes(names) -> list[Runtime]:
    """The runtimes called `names`, in that order; UserError naming any unknown one."""
    unknown = [n for n in names if n not in RUNTIMES]
    if unknown:
        raise UserError(f"unknown runtime(s) {', '.join(map(repr, unknown))}; valid: {', '.join(RUNTIMES)}")
    return [RUNTIMES[n] for n in names]


def get_runtime(name: str) -> Runtime:
    return get_runtimes([name])[0]


__all__ = ["RUNTIMES", "DeviceUnavailable", "Runtime", "Session", "artifact_format", "get_runtime",
           "get_runtimes", "gpu_available"]

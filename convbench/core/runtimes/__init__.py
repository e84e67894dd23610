"""The registry of runtimes: name -> configured Runtime, each with its default benchmark plans.
Importing it imports no inference library; each runtime imports its own when it loads.

Add a runtime: its module in this folder and one entry here."""

from __future__ import annotations

from convbench.core.errors import UserError
from convbench.core.runtimes.base import DeviceUnavailable, Plan, Plans, Runtime, Session
from convbench.core.runtimes.gpu import gpu_available
from convbench.core.runtimes.keras_tf import KerasRuntime
from convbench.core.runtimes.litert import LiteRTRuntime
from convbench.core.runtimes.null import NullRuntime
from convbench.core.runtimes.ort import OrtRuntime
from convbench.core.formats import FP32_BASELINES, INT8_BASELINES, ONNX_FP32

# Sized so that all four lesson convnets with the default variants fit in a few minutes on 2 cores:
# the batch curve, thread scaling and the no-XNNPACK / basic-ORT comparisons on the fp32 and int8
# baselines only (what the notes read); every other file at the smallest batch, one thread (the
# first screen compares batch-1 rows; a variant named with --variants gets every batch).
FP32_INT8 = FP32_BASELINES + INT8_BASELINES
KERAS_PLANS = Plans(baseline=(Plan((None,), "keras"),))

RUNTIMES: dict[str, Runtime] = {r.name: r for r in (
    # One row per model, on one artifact: the harness's own overhead.
    NullRuntime(Plans(baseline=(Plan((1,), "min"),), quick=(Plan((1,), "min"),))),
    KerasRuntime("keras_eager", "eager", Plans(baseline=(Plan((None,), "keras"),), quick=(Plan((None,), "min"),))),
    KerasRuntime("tf_function", "function", KERAS_PLANS),
    KerasRuntime("tf_xla", "xla", KERAS_PLANS),
    LiteRTRuntime("litert", xnnpack=True, plans=Plans(
        baseline=(Plan((1,), "min"), Plan((1, 2), "all", FP32_INT8)), technique=(Plan((1,), "min"),),
        quick=(Plan((1,), "all"),))),
    LiteRTRuntime("litert_noxnnpack", xnnpack=False, plans=Plans(baseline=(Plan((1,), "all", FP32_INT8),))),
    OrtRuntime("onnxruntime", "ORT_ENABLE_ALL", gpu_ep="cuda", plans=Plans(
        baseline=(Plan((1,), "min"), Plan((1, 2), "all", FP32_INT8)), technique=(Plan((1,), "min"),),
        quick=(Plan((1,), "all"),))),
    OrtRuntime("onnxruntime_basic", "ORT_ENABLE_BASIC", gpu_ep=None,
               plans=Plans(baseline=(Plan((1,), "all", (ONNX_FP32,)),))),
    OrtRuntime("onnxruntime_trt", "ORT_ENABLE_ALL", gpu_ep="tensorrt", cpu=False,
               plans=Plans(baseline=(Plan((None,), "all"),))),
)}


def get_runtimes(names) -> list[Runtime]:
    """The runtimes called `names`, in that order; UserError naming any unknown one."""
    unknown = [n for n in names if n not in RUNTIMES]
    if unknown:
        raise UserError(f"unknown runtime(s) {', '.join(map(repr, unknown))}; valid: {', '.join(RUNTIMES)}")
    return [RUNTIMES[n] for n in names]


def get_runtime(name: str) -> Runtime:
    return get_runtimes([name])[0]


def family_runtimes(family: str) -> tuple[str, ...]:
    """The runtimes that load an artifact family ('keras', 'tflite', 'onnx'), in registry order.
    The first is the family's primary runtime: it verifies each file right after optimize, and
    runs the memory, audit, per-layer and A/B-gate rows. The null runtime loads no model."""
    return tuple(r.name for r in RUNTIMES.values() if family in r.formats and not isinstance(r, NullRuntime))


def runtime_for(family: str) -> Runtime:
    """The family's primary runtime (family_runtimes)."""
    return RUNTIMES[family_runtimes(family)[0]]


__all__ = ["RUNTIMES", "DeviceUnavailable", "Plan", "Plans", "Runtime", "Session", "family_runtimes", "get_runtime",
           "get_runtimes", "gpu_available", "runtime_for"]

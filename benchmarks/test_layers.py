"""Per-layer latency rows (kind "layers"): the main variants' .tflite and .onnx files at batch 1,
each layer's time, share and achieved ops/s (benchmarks/layers.py: single-op models for LiteRT,
ONNX Runtime's profiler for .onnx). A row whose layers do not add up to the whole model within
SUM_TOLERANCE fails: its per-layer times would not explain the whole. ORT's profiler times
kernels only, so there only a sum above the whole fails (benchmarks/layers.py: kernels_only)."""

from __future__ import annotations

from convbench.benchmarks.layers import profile
from convbench.benchmarks.suite import ForeignCpu, check_file, runnable_runtime
from convbench.core.records import OPS_COUNT, LayerProfileResult, to_jsonable

# The bar, plus the method's own resolution per layer (half the measured per-invoke
# overhead for LiteRT's single-op models, 0.5 µs per node for ORT's profiler). Zen 5, 1 thread:
# LiteRT 0.99-1.02 of the whole, ORT 0.85-1.03.
SUM_TOLERANCE = 0.15
BUDGET_S = {False: 1.5, True: 0.3}   # timing seconds per artifact, by --quick


def test_layers(benchmark, layers_case, bench):
    case = layers_case
    runtime = runnable_runtime(case)
    check_file(case)
    with ForeignCpu() as foreign:
        measured = benchmark.pedantic(profile, args=(case.path, case.threads, BUDGET_S[bench.options.quick]),
                                      rounds=1, iterations=1)
    result = LayerProfileResult.of(
        case.identity(), **bench.row_context(case, foreign.fraction), runtime_version=runtime.version(),
        device_used="cpu", providers=list(measured.providers), method=measured.method, layers=measured.layers,
        whole_us=measured.whole_us, overhead_us=measured.overhead_us, tolerance=measured.tolerance(SUM_TOLERANCE),
        ops_count=OPS_COUNT, notes=measured.notes, kernels_only=measured.kernels_only)
    benchmark.extra_info.update(to_jsonable(result))
    bound = f"above +{result.tolerance:.0%}" if result.kernels_only else f"beyond ±{result.tolerance:.0%}"
    assert result.passed, (f"{case.id}: the layers plus one call's overhead add up to {result.sum_ratio:.2f} x the "
                           f"whole model ({result.layers_sum_us:.1f} + {result.overhead_us:.1f} µs vs "
                           f"{result.whole_us:.1f} µs), {bound}: the layers do not explain it")

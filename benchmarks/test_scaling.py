"""Scaling rows: each lesson architecture with random weights at the input sides optimize built (3 channels),
fp32 and int8 TFLite/ONNX, batch 1: latency and peak memory, to show how cost grows with work.
The files are built by the optimize stage (listed in the manifest); the bench builds nothing."""

from __future__ import annotations

import dataclasses

import numpy as np

from convbench.benchmarks.harness import measure_latency, pytest_benchmark_pedantic
from convbench.benchmarks.memory import measure_baseline_rss_mib, measure_peak_rss
from convbench.benchmarks.results import accuracy_fields, latency_result, memory_result
from convbench.benchmarks.suite import load_session, runnable_runtime, session_info
from convbench.core.records import ScalingLatency, ScalingMemory, to_jsonable


def test_scaling(benchmark, scaling_case, bench):
    runtime = runnable_runtime(scaling_case)
    art = bench.manifest.scaling_record(scaling_case.model, scaling_case.side)   # the matrix lists built ones only
    case = dataclasses.replace(scaling_case, path=str(art.path(scaling_case.format)))
    extra = dict(side=art.side, input_shape=art.input_shape, params=art.params, bytes=art.bytes[case.format])
    if case.metric == "memory":
        measure_baseline_rss_mib(case.runtime)
        phase = benchmark.pedantic(measure_peak_rss, kwargs={
            "runtime_name": case.runtime, "artifact_path": case.path, "batch": case.batch,
            "threads": case.threads, "device": case.device}, rounds=1, iterations=1)
        result = memory_result(case, [phase], context=bench.row_context(case), runtime_version=runtime.version(),
                               cls=ScalingMemory, **extra)
        benchmark.extra_info.update(to_jsonable(result))
        assert result.peak_rss_mib > result.baseline_rss_mib > 0, f"{case.id}: implausible peak RSS"
        return
    session, load_s = load_session(case)
    rng = np.random.default_rng(0)
    x_batches = [rng.random(session.input_shape, dtype=np.float32) for _ in range(4)]
    run = measure_latency(session, x_batches, bench.budget, pytest_benchmark_pedantic(benchmark))
    result = latency_result(case, run, load_s=load_s, session=session_info(case, session),
                            context=bench.row_context(case), ops=bench.ops_of(case),
                            accuracy=accuracy_fields(None, None, None, "random weights and inputs"),
                            cls=ScalingLatency, **extra)
    benchmark.extra_info.update(to_jsonable(result))
    assert run.audit.passed, f"{case.id}: timed outputs differ from the untimed pass"

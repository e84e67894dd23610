"""Memory rows: each (artifact, runtime) loaded and run in a fresh child process, batch 1 and then
the largest batch, their peak RSS reported apart, minus a child that only imports the runtime;
GPU memory from NVML / TensorFlow on GPU rows. The row's timing is the child's wall time."""

from __future__ import annotations

import pytest

from convbench.benchmarks.memory import measure_baseline_rss_mib, measure_peak_rss_batches
from convbench.benchmarks.records import memory_extra_info
from convbench.runtimes import DeviceUnavailable
from convbench.benchmarks.suite import runnable_runtime


def test_memory(benchmark, memory_case, bench):
    case = memory_case
    runtime = runnable_runtime(case)
    measure_baseline_rss_mib(case.runtime)  # cached per process: keep it out of this row's timing
    try:
        results = benchmark.pedantic(measure_peak_rss_batches, kwargs={
            "runtime_name": case.runtime, "artifact_path": case.path, "batches": case.batches or (case.batch,),
            "threads": case.threads, "device": case.device}, rounds=1, iterations=1)
    except DeviceUnavailable as exc:
        pytest.skip(f"{case.device} row: {exc}")
    assert all(r.device_used == case.device for r in results)
    benchmark.extra_info.update(memory_extra_info(case, results, context=bench.context,
                                                  runtime_version=runtime.version()))

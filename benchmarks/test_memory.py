"""Memory rows: each (artifact, runtime) loaded and run in a fresh child process, batch 1 and then
the largest batch, their peak RSS reported apart, minus a child that only imports the runtime;
GPU memory from NVML / TensorFlow on GPU rows. The row's timing is the child's wall time."""

from __future__ import annotations

import pytest

from convbench.benchmarks.memory import measure_baseline_rss_mib, measure_peak_rss_batches
from convbench.benchmarks.results import memory_result
from convbench.benchmarks.suite import check_file, runnable_runtime
from convbench.core.records import to_jsonable
from convbench.core.runtimes import DeviceUnavailable


def test_memory(benchmark, memory_case, bench):
    case = memory_case
    runtime = runnable_runtime(case)
    check_file(case)
    measure_baseline_rss_mib(case.runtime)  # cached per process: keep it out of this row's timing
    try:
        phases = benchmark.pedantic(measure_peak_rss_batches, kwargs={
            "runtime_name": case.runtime, "artifact_path": case.path, "batches": case.batches or (case.batch,),
            "threads": case.threads, "device": case.device}, rounds=1, iterations=1)
    except DeviceUnavailable as exc:
        pytest.skip(f"{case.device} row: {exc}")
    assert all(p.device_used == case.device for p in phases)
    result = memory_result(case, phases, context=bench.row_context(case), runtime_version=runtime.version())
    benchmark.extra_info.update(to_jsonable(result))

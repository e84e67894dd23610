"""Scaling rows: each lesson architecture with random weights at input sides 28..224 (3 channels),
fp32 and int8 TFLite/ONNX, batch 1: latency and peak memory, to show how cost grows with work.
The artifacts are built once and cached under <out>/scaling/ by fingerprint."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from convbench.benchmarks.harness import measure_latency, pytest_benchmark_pedantic
from convbench.optimize.scaling import CHANNELS
from convbench.benchmarks.memory import measure_baseline_rss_mib, measure_peak_rss
from convbench.benchmarks.records import latency_extra_info, memory_extra_info
from convbench.runtimes import RUNTIMES
from convbench.benchmarks.suite import load_session, session_info


@pytest.fixture(scope="session")
def scaling_artifacts(bench):
    from convbench.optimize.scaling import get_scaling_artifacts
    from convbench.models.convnets import CONVNETS

    built: dict = {}
    num_classes = len(bench.manifest.dataset.get("class_names") or range(10))

    def get(arch: str, side: int):
        if arch not in CONVNETS:
            pytest.skip(f"{arch!r} is not a lesson architecture (valid: {', '.join(CONVNETS)})")
        if (arch, side) not in built:
            built[arch, side] = get_scaling_artifacts(bench.options.out / "scaling", arch, side, CHANNELS,
                                                      num_classes)
        return built[arch, side]

    return get


def test_scaling(benchmark, scaling_case, bench, scaling_artifacts):
    case = scaling_case
    ok, why = RUNTIMES[case.runtime].available(case.device)
    if not ok:
        pytest.skip(f"{case.device} row: {why}")
    art = scaling_artifacts(case.model, case.side)
    case = dataclasses.replace(case, path=str(art.path(case.format)), row={
        "flops_per_image": art.flops_per_image, "params": art.params, "bytes": art.path(case.format).stat().st_size})
    extra = {"input_shape": list(art.input_shape), "side": case.side, "weights": "random", "cached": art.cached}
    if case.metric == "memory":
        measure_baseline_rss_mib(case.runtime)
        result = benchmark.pedantic(measure_peak_rss, kwargs={
            "runtime_name": case.runtime, "artifact_path": case.path, "batch": case.batch,
            "threads": case.threads, "device": case.device}, rounds=1, iterations=1)
        benchmark.extra_info.update({**memory_extra_info(case, result, context=bench.context,
                                                         runtime_version=RUNTIMES[case.runtime].version()), **extra})
        return
    session, load_s = load_session(case)
    rng = np.random.default_rng(0)
    x_batches = [rng.random(session.input_shape, dtype=np.float32) for _ in range(4)]
    run = measure_latency(session, x_batches, bench.budget, pytest_benchmark_pedantic(benchmark))
    benchmark.extra_info.update({**latency_extra_info(
        case, run.stats, load_s=load_s, first_inference_s=run.first_inference_s, rounds=run.rounds,
        warmup_calls=run.warmup_calls, audit=run.audit.as_extra_info(), session=session_info(case, session),
        peaks=bench.sgemm_peaks, context=bench.context), **extra})
    assert run.audit.passed, f"{case.id}: timed outputs differ from the untimed pass"

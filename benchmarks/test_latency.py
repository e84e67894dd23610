"""Latency rows: lesson convnet x variant x format x runtime x device x batch x threads, from the
manifest. Load and first inference timed apart; warm rounds timed by pytest-benchmark; every
timed output checked against the untimed accuracy pass (MLPerf-style compliance)."""

from __future__ import annotations

from convbench.benchmarks.harness import measure_latency, pytest_benchmark_pedantic
from convbench.benchmarks.records import latency_extra_info
from convbench.benchmarks.suite import ForeignCpu, load_session, pool_count, session_info


def test_latency(benchmark, latency_case, bench):
    case = latency_case
    session, load_s = load_session(case)
    x_batches, labels = bench.input_pool(case.batch, pool_count(case.batch), session.input_shape[1:])
    with ForeignCpu() as foreign:
        run = measure_latency(session, x_batches, bench.budget, pytest_benchmark_pedantic(benchmark))
    benchmark.extra_info["foreign_cpu_fraction"] = foreign.fraction
    benchmark.extra_info.update(latency_extra_info(
        case, run.stats, load_s=load_s, first_inference_s=run.first_inference_s, rounds=run.rounds,
        warmup_calls=run.warmup_calls, audit=run.audit.as_extra_info(), session=session_info(case, session),
        peaks=bench.sgemm_peaks, context=bench.context, pool_labels=labels, pool_predictions=run.pool_predictions))
    assert run.audit.passed, (f"{case.id}: {run.audit.mismatched}/{run.audit.checked} timed outputs differ from the "
                              f"accuracy pass (max |diff| {run.audit.max_abs_diff:.3g})")

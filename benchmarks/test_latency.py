"""Latency rows: lesson convnet x variant x format x runtime x device x batch x threads, from the
manifest. Load and first inference timed apart; warm rounds timed by pytest-benchmark; accuracy
measured by the row's own session on the held-out split; every timed output checked against
that untimed pass (MLPerf-style compliance)."""

from __future__ import annotations

from convbench.benchmarks.harness import measure_latency, pytest_benchmark_pedantic
from convbench.benchmarks.results import accuracy_fields, latency_result
from convbench.benchmarks.suite import ForeignCpu, load_session, pool_count, session_info
from convbench.core.records import to_jsonable


def test_latency(benchmark, latency_case, bench):
    case = latency_case
    session, load_s = load_session(case)
    item_shape = session.input_shape[1:]
    x_batches = bench.input_pool(case.batch, pool_count(case.batch), item_shape)
    held_out, labels, why_not = bench.held_out(item_shape)
    if case.repeat > 1:  # --repeat: round 1 measured the accuracy of this very row (merge_rounds keeps it)
        held_out = labels = None
    with ForeignCpu() as foreign:
        run = measure_latency(session, x_batches, bench.budget, pytest_benchmark_pedantic(benchmark), held_out)
    accuracy = accuracy_fields(run.held_out_outputs, labels, bench.reference_outputs(case.model), why_not)
    result = latency_result(case, run, load_s=load_s, session=session_info(case, session),
                            context=bench.row_context(case, foreign.fraction), ops=bench.ops_of(case),
                            accuracy=accuracy)
    benchmark.extra_info.update(to_jsonable(result))
    assert run.audit.passed, (f"{case.id}: {run.audit.mismatched}/{run.audit.checked} timed outputs differ from the "
                              f"accuracy pass (max |diff| {run.audit.max_abs_diff:.3g})")

"""Audits (kind "audit"): an input must not run faster on its repeats than on its first call
beyond noise (no result caching, MLPerf TEST04-like; paired per input), and the harness's
batch-1 median must stay close to a bare perf_counter loop over the same session (its own
overhead). Both are compliance checks: a failed audit fails its row."""

from __future__ import annotations

from convbench.benchmarks.harness import CACHING_ADVICE, measure_caching, measure_overhead, pytest_benchmark_pedantic
from convbench.benchmarks.suite import ForeignCpu, load_session, pool_count, session_info
from convbench.core.records import AuditResult, to_jsonable

CACHING_INPUTS, CACHING_REPEATS = 40, 5  # 200 timed calls


def test_audit(benchmark, audit_case, bench):
    case = audit_case
    session, load_s = load_session(case)
    pedantic = pytest_benchmark_pedantic(benchmark)
    item_shape = session.input_shape[1:]
    with ForeignCpu() as foreign:
        if case.metric == "caching":
            audit, _ = measure_caching(session, bench.input_pool(case.batch, CACHING_INPUTS + 1, item_shape),
                                       CACHING_REPEATS, pedantic)
            found = dict(caching=audit)
        else:
            audit, _ = measure_overhead(session, bench.input_pool(case.batch, pool_count(case.batch), item_shape),
                                        bench.budget, pedantic)
            found = dict(overhead=audit)
    result = AuditResult(**case.identity(), **session_info(case, session), **bench.row_context(case, foreign.fraction),
                         metric=case.metric, load_ms=load_s * 1e3, **found)
    benchmark.extra_info.update(to_jsonable(result))
    if case.metric == "caching":
        assert audit.passed, (f"{case.id}: inputs ran {audit.speedup:.2f}x faster when repeated than on their first "
                              f"call (flagged above {audit.threshold:.2f}x with over {audit.min_saved_us:g} µs saved, "
                              f"p={audit.p_value:.2g}; warm CPU caches give a few per cent). {CACHING_ADVICE}")
    else:
        assert audit.passed, (f"{case.id}: the harness's median is {audit.overhead_pct:+.1f} % off a plain "
                              f"perf_counter loop over the same session (limit {audit.limit_pct:g} %)")

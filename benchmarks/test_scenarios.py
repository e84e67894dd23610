"""Serving-scenario rows (kind "scenario"): MLPerf LoadGen drives each primary file through the one
runtime interface: SingleStream (with LoadGen's AccuracyOnly pass over the held-out split),
Offline at one batch, Server searched for the highest offered load whose run is VALID. LoadGen's
logs stay in the run folder (loadgen/<row>/); the row's figures are parsed from them. An INVALID
headline run is recorded as INVALID with LoadGen's reason, not as a figure. The row's timing is
its wall time."""

from __future__ import annotations

import numpy as np

from convbench.benchmarks.scenarios import ScenarioRow, scenario_result, usable_cores
from convbench.benchmarks.suite import ForeignCpu, check_file, runnable_runtime, session_info
from convbench.core.records import to_jsonable

RANDOM_IMAGES = 256   # a model whose input is not the data set's gets this many random images


def test_scenarios(benchmark, scenario_case, bench):
    case = scenario_case
    runtime = runnable_runtime(case)
    check_file(case)
    runtime.import_modules()
    item_shape = tuple(case.artifact.input_shape) if case.artifact and case.artifact.input_shape else None
    images, labels, why_not = bench.held_out(item_shape) if item_shape else (None, None, "no input shape recorded")
    if images is None:
        rng = np.random.default_rng(0)
        images = rng.random((RANDOM_IMAGES, *(item_shape or ())), dtype=np.float32)
    row = ScenarioRow(case, runtime, np.ascontiguousarray(images, dtype=np.float32), labels, why_not, bench.run_dir,
                      bench.options.scenario_budget, bench.options.slo_ms)
    options = bench.options

    def measure() -> dict:
        if case.metric == "single_stream":
            return row.single_stream()
        if case.metric == "offline":
            return row.offline(options.batch_list)
        return row.server(case.metric.removeprefix("server_"), usable_cores(), options.target_qps)

    with ForeignCpu() as foreign:
        fields = benchmark.pedantic(measure, rounds=1, iterations=1)
    result = scenario_result(fields, bench.row_context(case, foreign.fraction), session_info(case, row.first_session),
                             row.load_s)
    benchmark.extra_info.update(to_jsonable(result))
    if result.accuracy is not None:
        # MLPerf's accuracy mode answers with the very outputs the row computes: any other
        # figure means the SUT served other images or other outputs than it was asked for.
        assert result.accuracy == result.accuracy_direct, (
            f"{case.id}: LoadGen's AccuracyOnly run scored {result.accuracy:.4f}, the same session's own pass over "
            f"the same {result.accuracy_images} images {result.accuracy_direct:.4f}")

"""benchmarks/stability.py on a written run folder (its benches are real runs, measured by hand:
docs/measurements): what it reads back from a run is the recommendation's pick, tie group and
smallest download, and which check failed which row."""

from __future__ import annotations

from dataclasses import replace

from convbench.benchmarks.stability import failures_of, picks_of
from convbench.core.records import RECOMMENDATION_FILE, Skip, write_record
from convbench.report.recommend import recommend
from tests.support.factories import write_run
from tests.support.reportdata import M4, M5, full_run


def test_picks_and_failures_of_a_run(tmp_path):
    run = full_run()
    run.record = replace(run.record, failed=[
        Skip(nodeid="test_latency[a]", reason="m/a/tflite_fp32 litert cpu b1 t1 reaches 130.0% of its roof (...)"),
        Skip(nodeid="test_audit[b]", reason="caching b: inputs ran 9.00x faster when repeated than on their first")])
    folder = write_run(tmp_path / "run", run)
    write_record(folder / RECOMMENDATION_FILE, recommend(run, 1.0))
    picks = picks_of(folder)
    group = "pruned_80/tflite_int8, tflite_fp32/tflite_fp32, tflite_int8/tflite_int8"
    assert picks[("cpu", M5)] == ("tflite_int8/tflite_int8", group, "pruned_80/tflite_int8")
    assert picks[("cpu", M4)] == ("none", "", "-")   # nothing within the budget
    assert [f.split(":")[0] for f in failures_of(folder)] == ["roof check", "caching audit"]

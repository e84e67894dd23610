"""The scripts of issue 21 on small inputs (their real runs are measured by hand:
docs/measurements): what benchmarks/stability.py reads back from a run folder (the pick, its tie
group, the smallest download, which check failed which row), and benchmarks/calibrate_audits.py
over the tiny folder (every file and runtime, as is and memoized)."""

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
    group = "pruned_80/tflite_int8, tflite_int8/tflite_int8"   # at one thread (tflite_fp32 ran at two)
    assert picks[("cpu", M5)] == ("tflite_int8/tflite_int8", group, "pruned_80/tflite_int8")
    assert picks[("cpu", M4)] == ("none", "", "-")   # nothing within the budget
    assert [f.split(":")[0] for f in failures_of(folder)] == ["roof check", "caching audit"]


def test_calibrate_audits_over_every_file_and_runtime(tiny_manifest):
    # The tiny folder: tflite_fp32 and tflite_int8_io on LiteRT with and without XNNPACK, onnx_fp32
    # on ORT at both optimization levels; the Keras file and the failed row are left out.
    from convbench.benchmarks.calibrate_audits import calibrate

    lines: list[str] = []
    counts, speedups = calibrate(tiny_manifest.parent, repeats=1, slow_pct=10.0, models=None, report=lines.append)
    assert counts["caching rows"] == counts["overhead rows"] == len(speedups["as is"]) == 6
    assert counts["caching false alarms"] == 0 and counts["caching caught"] == 6, lines
    assert max(speedups["as is"]) < 2 < min(speedups["memoized"])
    # The per-layer sum: tflite_fp32 and tflite_int8_io by LiteRT's single-op models, onnx_fp32 by
    # ORT's profiler; no false alarm, and a layer counted twice is caught wherever that layer is
    # larger than the tolerance (ORT's kernels-only rule cannot see a missing one).
    lite, ort = "LiteRT single-op", "ORT profiler"
    assert (counts[f"layers rows ({lite})"], counts[f"layers rows ({ort})"]) == (2, 1), counts
    assert counts[f"layers false alarms ({lite})"] == counts[f"layers false alarms ({ort})"] == 0, lines
    for kind in (lite, ort):
        assert counts[f"layers twice caught ({kind})"] >= counts[f"layers faults larger than the tolerance ({kind})"]
    assert counts[f"layers missing caught ({ort})"] == 0

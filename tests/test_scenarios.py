"""The serving scenarios through the real MLPerf LoadGen: one small run of the suite on the tiny
artifacts folder (logs kept, figures parsed, AccuracyOnly equal to the latency row's accuracy,
a stray audit.config ignored, the store and the report fed); an INVALID run reported as INVALID
with LoadGen's reason; the Server search's bounded steps; bad values refused before any work."""

from __future__ import annotations

import json

import numpy as np
import pytest

from convbench.benchmarks.bench import BenchOptions
from convbench.benchmarks.loadgen_log import DETAIL_LOG, SUMMARY_LOG
from convbench.benchmarks.loadgen_sut import LoadGenSettings, ServingSut, run_loadgen
from convbench.benchmarks.scenarios import find_peak_qps, scenario_result
from convbench.cli import main
from convbench.cli.stages import bench_and_store
from convbench.core.errors import UserError
from convbench.core.records import LoadGenRun, load_run
from convbench.store.db import connect, store_path
from tests.support.console import one_error_line
from tests.support.tiny import copy_tiny_bench, sample_input

# The settings LoadGen would take from a stray audit.config in the working directory.
STRAY_AUDIT_CONFIG = "*.*.min_query_count = 5\n*.*.min_duration = 1\n*.Server.target_latency = 100000\n"


def test_a_small_scenarios_run_keeps_loadgens_logs_and_feeds_the_store_and_report(tiny_manifest, tmp_path,
                                                                                    monkeypatch):
    out = copy_tiny_bench(tiny_manifest.parent, tmp_path / "artifacts")
    monkeypatch.chdir(tmp_path)   # the bench child's working directory, with a stray audit.config in it
    (tmp_path / "audit.config").write_text(STRAY_AUDIT_CONFIG)
    # and a folder named convbench (another checkout, say): the child imports the installed package
    (tmp_path / "convbench").mkdir()
    (tmp_path / "convbench" / "__init__.py").write_text("raise ImportError('the working directory convbench')\n")
    # The scenarios alone: a latency suite would add its roof measurement (seconds) to the test.
    options = BenchOptions(quick=True, runtimes=("litert", "null"), batches=(1,), suites=("scenarios",),
                           out=out, storage=None, scenario_queries=700, scenario_seconds=0.35, target_qps=2000)
    rc, run_dir = bench_and_store(options, tables=False)
    assert rc == 0, (run_dir / "bench.log").read_text()[-3000:] if run_dir else rc
    run = load_run(run_dir)
    rows = {r.metric + " " + r.runtime: r for r in run.of("scenario")}
    assert set(rows) == {"single_stream litert", "offline litert", "server_plain litert", "single_stream null"}
    for row in rows.values():
        assert row.runs and row.key.kind == "scenario"
        for lg in row.runs:   # LoadGen's own logs, in the run folder, and the settings asked (not audit.config's)
            assert (run_dir / lg.log_dir / SUMMARY_LOG).is_file() and (run_dir / lg.log_dir / DETAIL_LOG).is_file()
            assert not any("Audit Config" in w for w in lg.warnings)
            if lg.mode == "PerformanceOnly" and lg.scenario != "Offline":
                assert lg.min_query_count == 700
    single = rows["single_stream litert"]
    assert single.valid and single.p90_ms and single.early_stopping_p99_ms and single.early_stopping_p90_ms
    assert single.p90_ms == single.headline.p90_ms and single.headline.mode == "PerformanceOnly"
    # LoadGen's path on the very calls it timed: the SUT's own clock around each session call;
    # beside every row, right before and after its run, the null runtime on the same file with the
    # caches swept before each call; the same session in a plain loop right before and after shows
    # how far the machine moved meanwhile.
    null = rows["single_stream null"]
    for row in (single, null):
        assert 0 < row.loop_p90_before_ms and 0 < row.loop_p90_after_ms
        assert 0 < row.headline.sut_p90_ms < row.p90_ms and row.headline.path_ms == row.p90_ms - row.headline.sut_p90_ms
        assert row.headline.sweep_bytes == 0 and row.headline is row.runs[-2 if row.cold_runs else -1]
    from convbench.benchmarks.machine import private_cache_bytes
    from convbench.core.records import beyond_own_path_ms, cold_null_paths_ms
    from convbench.report.serving import null_paths

    paths = null_paths(run, "tiny")
    assert paths.hot_ms == null.headline.mean_path_ms
    for lg in (single.headline, null.headline):   # the mean path: LoadGen's mean over the very calls the SUT timed
        assert lg.sut_calls == lg.query_count and lg.mean_path_ms == lg.mean_ms - lg.sut_mean_ms
    if private_cache_bytes() is None:
        assert not single.cold_runs and paths.cold_ms is None and cold_null_paths_ms(list(rows.values())) == ()
    else:
        for row in (single, null):   # before and after the row's own run, which sits between them
            before, after = row.cold_runs
            assert row.runs.index(before) + 2 == row.runs.index(row.headline) + 1 == row.runs.index(after)
            assert before.sweep_bytes == after.sweep_bytes == 4 * private_cache_bytes()
            assert row.cold_path_ms == max(before.mean_path_ms, after.mean_path_ms)
        assert paths.cold_ms == null.cold_path_ms
        own = cold_null_paths_ms(list(rows.values()))   # every cold run of the run: two beside each SingleStream row
        assert len(own) == 4 and max(own) == max(single.cold_path_ms, null.cold_path_ms)
        assert beyond_own_path_ms(single, own) == pytest.approx(single.headline.mean_path_ms - max(own))
        assert beyond_own_path_ms(null, own) is None
    # AccuracyOnly: LoadGen's logged responses score what the row's own pass (a latency row's
    # accuracy: its session's predict_all) scores on the same images.
    from convbench.core import classes
    from convbench.core.runtimes import get_runtime

    dataset = load_run(run_dir).manifest.dataset
    with np.load(run_dir / dataset.path) as npz:
        x, y = npz["x_test"], npz["y_test"]
    direct = classes.accuracy(get_runtime("litert").load(run_dir / single.artifact, threads=1).predict_all(x), y)
    assert single.accuracy == single.accuracy_direct == direct and single.accuracy_images == len(x) == 64
    server = rows["server_plain litert"]
    assert [r.target_qps for r in server.runs] == [2000] and server.slo_ms == 10.0   # a non-lesson model's default
    if server.valid:
        assert server.max_qps == 2000 and server.p99_ms <= server.slo_ms
    else:   # a loaded machine may miss the bound: then no figure, LoadGen's reason
        assert server.max_qps is None and server.p99_ms is None and server.invalid_reason
    assert rows["offline litert"].samples_per_s or not rows["offline litert"].valid
    with connect(store_path(out)) as con:
        stored = con.execute("SELECT metric, valid, server_max_qps, p99_ms FROM results WHERE kind = 'scenario' "
                             "ORDER BY metric, runtime").fetchall()
    assert [(m, v) for m, v, _, _ in stored] == [(r.metric, r.valid) for r in sorted(
        rows.values(), key=lambda r: (r.metric, r.runtime))]
    assert dict((m, q) for m, _, q, _ in stored)["server_plain"] == server.max_qps
    if server.valid:   # `history` reads the scenario column like any other metric
        assert main(["history", "server_max_qps", "--model", "tiny", "--variant", "tflite_fp32", "--store",
                     str(store_path(out)), "--plot", str(tmp_path / "h.png")]) == 0

    from convbench.report.model import build_model

    serving = build_model(run).serving
    assert serving is not None and "MLPerf LoadGen" in serving.title
    assert serving.tables[0].rows and serving.charts[0].points   # max QPS per SUT; p99 against offered load


def test_an_invalid_run_is_reported_invalid_with_loadgens_reason(tiny_artifacts, tmp_path):
    from convbench.core.runtimes import get_runtime
    from convbench.report.serving import server_table

    session = get_runtime("litert").load(tiny_artifacts.tflite, batch=1, threads=1)
    folder = tmp_path / "run"
    # No query can be answered within 1 µs: LoadGen's Python path alone takes longer.
    settings = LoadGenSettings("server", min_duration_s=0.05, min_queries=662, target_qps=5000, slo_ms=0.001)
    run = run_loadgen(ServingSut([{1: session}], sample_input(64)), settings, folder / "loadgen" / "row" / "01",
                      folder)
    assert not run.valid and run.perf_constraints_met is False and run.invalid_reason
    assert "INVALID" in (folder / run.log_dir / SUMMARY_LOG).read_text()
    row = scenario_result(dict(model="tiny", variant="tflite_fp32", format="tflite_fp32", runtime="litert",
                               device="cpu", batch=1, threads=1, metric="server_plain", scenario="server",
                               slo_ms=0.001, runs=[run]), {}, {}, 0.0)
    assert not row.valid and row.invalid_reason == run.invalid_reason
    assert (row.max_qps, row.p99_ms, row.samples_per_s) == (None, None, None)   # never a figure
    (cells,) = server_table([row]).rows
    assert cells[4].text == f"INVALID: {run.invalid_reason.strip()}"


def test_with_the_log_folder_taken_loadgen_does_not_run(tiny_artifacts, tmp_path):
    (tmp_path / "01").mkdir()
    with pytest.raises(FileExistsError):
        run_loadgen(None, LoadGenSettings("single_stream"), tmp_path / "01", tmp_path)


def _run(qps: float, valid: bool) -> LoadGenRun:
    return LoadGenRun(scenario="Server", mode="PerformanceOnly", valid=valid, target_qps=qps)


def test_the_server_search_doubles_then_bisects_and_stops_at_its_bound():
    asked = []

    def run_at(qps):
        asked.append(qps)
        return _run(qps, qps <= 3000)

    runs, _ = find_peak_qps(run_at, 1000, max_runs=5, precision=1.05)
    assert [round(q) for q in asked] == [1000, 2000, 4000, 2828, 3364]
    assert max(r.target_qps for r in runs if r.valid) == pytest.approx(2828.43, abs=0.01)
    asked.clear()
    runs, _ = find_peak_qps(run_at, 8000, max_runs=3, precision=1.05)
    assert [round(q) for q in asked] == [8000, 4000, 2000]   # halving until VALID, then the bound stops it


BAD = [
    (["--slo-ms", "0"], "--slo-ms 0.0: must be a positive number of milliseconds"),
    (["--slo-ms", "fast"], "--slo-ms fast: expected a number"),
    (["--target-qps", "-5"], "--target-qps -5.0: must be a positive number of queries per second"),
    (["--target-qps", "nan"], "--target-qps nan: must be a positive number of queries per second"),
    (["--scenario-queries", "100"], "--scenario-queries 100: LoadGen's early stopping needs at least 662 queries"),
    (["--scenario-seconds", "0"], "--scenario-seconds 0.0: must be > 0 seconds"),
    (["--scenario-seconds", "0.1", "--target-qps", "1000"],
     "--scenario-seconds 0.1 at --target-qps 1000 offers 100 queries; LoadGen's early stopping needs at least 662"),
]


@pytest.mark.parametrize("command", ["bench", "run"])
@pytest.mark.parametrize("argv, says", BAD, ids=[" ".join(a) for a, _ in BAD])
def test_a_bad_scenario_value_is_one_line_and_exit_2_before_any_work(tmp_path, monkeypatch, capsys, command, argv,
                                                                       says):
    from convbench.cli import stages

    monkeypatch.setattr(stages, "bench_and_store", lambda *a, **k: pytest.fail("the benchmark started"))
    monkeypatch.setattr(stages, "_optimize", lambda *a, **k: pytest.fail("the optimize stage started"))
    monkeypatch.chdir(tmp_path)
    assert main([command, *argv, "--out", str(tmp_path / "artifacts")]) == 2
    assert says in one_error_line(capsys)
    assert not (tmp_path / "artifacts" / "runs").exists()


def test_the_library_refuses_the_same_values():
    with pytest.raises(UserError, match="early stopping needs at least 662"):
        BenchOptions(scenario_queries=661)
    with pytest.raises(UserError, match="--slo-ms -1: must be a positive number"):
        BenchOptions(slo_ms=-1)
    assert BenchOptions(quick=True).scenario_budget.min_queries == 662
    assert json.dumps(BenchOptions(slo_ms="2.5").slo_ms) == "2.5"   # the bench child passes text


def test_a_single_stream_rows_path_is_held_to_the_longest_cold_null_path_of_the_run():
    from convbench.core.records import LoadGenRun, ScenarioResult, beyond_own_path_ms, cold_null_paths_ms
    from convbench.report.serving import NullPaths, own_path_words

    def run(mean_us, sut_mean_us, sweep_bytes=0, valid=True, calls=1000):
        return LoadGenRun(scenario="SingleStream", mode="PerformanceOnly", valid=valid, query_count=1000,
                          p90_ms=(mean_us + 20) / 1e3, sut_p90_ms=(sut_mean_us or 0) / 1e3 + 0.02,
                          mean_ms=mean_us / 1e3, sut_mean_ms=None if sut_mean_us is None else sut_mean_us / 1e3,
                          sut_calls=calls, sweep_bytes=sweep_bytes)

    def row(mean_us, sut_mean_us, runtime="litert", cold=((20, 10), (22, 14)), calls=1000):
        before, after = (run(*c, sweep_bytes=4 << 20) for c in cold)   # cold paths 10 and 8 µs
        return ScenarioResult(model="m", variant="v", format="v", runtime=runtime, device="cpu", batch=1, threads=1,
                              metric="single_stream", scenario="single_stream", valid=True, p90_ms=mean_us / 1e3,
                              runs=[before, run(mean_us, sut_mean_us, calls=calls), after])

    assert row(109, 100).headline.mean_path_ms == pytest.approx(0.009)   # the row's own run, not a cold one
    assert row(109, 100).cold_path_ms == pytest.approx(0.010)            # the larger of before and after
    # The bound is the longest cold path of the whole run, not only of the two runs beside the row.
    rows = [row(109, 100), row(5, 1, runtime="null", cold=((21, 9), (30, 18)))]   # cold paths 10, 8, 12, 12 µs
    own = cold_null_paths_ms(rows)
    assert sorted(own) == pytest.approx([0.008, 0.010, 0.012, 0.012])
    assert "8.0-12.0 µs over 4 cold null runs" in own_path_words(own)
    assert beyond_own_path_ms(row(111, 100), own) == pytest.approx(-0.001)   # 11 µs: within
    assert beyond_own_path_ms(row(115, 100), own) == pytest.approx(0.003)    # 15 µs: 3 µs longer
    assert beyond_own_path_ms(row(109, None), own) is None        # a run from before the SUT kept its own clock
    assert beyond_own_path_ms(row(109, 100, calls=999), own) is None   # not the same queries as LoadGen's mean
    assert beyond_own_path_ms(rows[1], own) is None                    # the null row is the reference itself
    # An INVALID cold run is no reference; with none left in the run there is no verdict.
    invalid = row(109, 100)
    invalid.runs[0].valid = False
    assert invalid.cold_path_ms == pytest.approx(0.008) and cold_null_paths_ms([invalid]) == pytest.approx((0.008,))
    invalid.runs[2].valid = False
    assert invalid.cold_path_ms is None and cold_null_paths_ms([invalid]) == ()
    assert beyond_own_path_ms(invalid, cold_null_paths_ms([invalid])) is None
    paths = NullPaths(hot_ms=0.005, cold_ms=0.010, sweep_bytes=4 << 20)   # 5 µs warm, 10 µs cold
    assert "4 MiB read before each call" in paths.words() and "not measured cold" in NullPaths(0.005, None).words()

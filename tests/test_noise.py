"""Comparisons between runs say how much of a difference is noise (--repeat): the latency rows
run in rounds, round after round, merged into one row per file with each round's p50; each
ratio between runs gets a bootstrap interval over both runs' rounds and is called
distinguishable only when the whole interval lies beyond the machines' run-to-run spread."""

from __future__ import annotations

import pytest
from tests.support.factories import latency_bench, samples, write_run

from convbench.benchmarks import matrix
from convbench.benchmarks.bench import BenchOptions
from convbench.benchmarks.results import merge_rounds
from convbench.cli import main
from convbench.core.errors import UserError
from convbench.core.records import read_manifest, to_jsonable
from convbench.core.stats import RatioEstimate, between_runs_ratio, distinguishable, run_to_run_spread
from convbench.gate.between_runs import compare_runs
from convbench.store.db import connect, import_runs
from convbench.store.queries import compare_machines, history

FP32 = "lesson5_custom", "tflite_fp32", "tflite_fp32", "litert", "cpu", 1, 1
INT8 = "lesson5_custom", "tflite_int8", "tflite_int8", "litert", "cpu", 1, 1


def test_the_rule_needs_the_whole_interval_beyond_the_spread():
    assert run_to_run_spread([[1.0, 1.1], [2.0, 2.1, 2.05], [3.0]]) == pytest.approx(1.075)  # (1.1 + 1.05) / 2
    assert run_to_run_spread([[1.0], [2.0]]) is None
    assert between_runs_ratio([1.0], [1.0, 1.1]) is None                 # one round: no interval
    assert between_runs_ratio([1, 1], [2, 2]) == RatioEstimate(2.0, 2.0, 2.0)
    slower = between_runs_ratio([1.0, 1.05, 0.98], [1.2, 1.25, 1.22])
    assert slower.ratio == pytest.approx(1.22 / 1.0) and 1.0 < slower.ci_low <= slower.ratio <= slower.ci_high
    assert distinguishable(slower, 1.05) is True
    assert distinguishable(slower, 1.3) is False                          # reaches into the machine's spread
    assert distinguishable(RatioEstimate(0.8, 0.75, 0.85), 1.1) is True   # faster, below 1/1.1
    assert distinguishable(RatioEstimate(1.0, 0.9, 1.1), None) is False   # includes 1
    assert distinguishable(None, 1.1) is None


def test_rounds_interleave_rows_and_keep_their_identity(tiny_manifest):
    manifest = read_manifest(tiny_manifest)
    one = [c for c in matrix.latency_cases(manifest, BenchOptions(runtimes=("litert",), batches=(1,))) if not c.skip]
    three = matrix.latency_cases(manifest, BenchOptions(runtimes=("litert",), batches=(1,), repeat=3))
    ran = [c for c in three if not c.skip]
    assert [c.repeat for c in ran] == [k for k in (1, 2, 3) for _ in one]    # round after round
    assert [c.id for c in ran[:len(one)]] == [c.id + "-r1" for c in one]
    assert {c.identity() == ran[0].identity() for c in ran[::len(one)]} == {True}
    assert sum(c.skip != "" for c in three) == 1                          # a skipped row, once
    assert matrix.round_of("test_latency[x-b1-t1-r12]") == 12 and matrix.round_of("test_latency[x-b1-t1]") == 0
    assert matrix.without_round("test_latency[x-b1-t1-r12]") == "test_latency[x-b1-t1]"


@pytest.mark.parametrize("repeat", [0, 21, "x"])
def test_a_repeat_outside_1_to_20_is_one_clear_error(repeat, tmp_path, capsys):
    with pytest.raises(UserError, match="repeat"):
        BenchOptions(repeat=repeat)
    assert main(["bench", "--repeat", str(repeat), "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "--repeat" in err and err.count("\n") == 1


def round_entry(key, round_no, samples_s, accuracy):
    entry = latency_bench(key, samples_s, accuracy=accuracy)
    return {"name": entry.name.replace("]", f"-r{round_no}]"), "stats": {"data": list(samples_s)},
            "extra_info": to_jsonable(entry.extra_info)}


def test_rounds_merge_into_one_row_with_each_rounds_p50():
    other = {"name": "test_memory[m]", "stats": {"data": [0.1]}, "extra_info": {"kind": "memory"}}
    entries = [round_entry(FP32, 1, [0.001, 0.003], 0.9), other, round_entry(INT8, 1, [0.0005], 0.8),
               round_entry(FP32, 2, [0.002, 0.004], None), round_entry(INT8, 2, [0.0007], None)]
    fp32, memory, int8 = merge_rounds(entries)
    assert memory is other and fp32["name"].endswith("t1]") and "-r" not in fp32["name"]
    assert fp32["stats"]["data"] == [0.001, 0.003, 0.002, 0.004] and fp32["stats"]["rounds"] == 4
    info = fp32["extra_info"]
    assert info["repeat_p50_ms"] == pytest.approx([2.0, 3.0]) and info["stats"]["median_ms"] == pytest.approx(2.5)
    assert info["accuracy"] == 0.9 and info["rounds"] == 4 and info["audit"]["checked"] == 2   # round 1's accuracy
    assert int8["extra_info"]["repeat_p50_ms"] == pytest.approx([0.5, 0.7])


def run_with_rounds(folder, fp32_rounds_ms, int8_rounds_ms, started, commit="c1"):
    return write_run(folder, [latency_bench(FP32, samples(1, sum(fp32_rounds_ms) / 3, 0.001), sha256="f" * 64,
                                            repeat_p50_ms=fp32_rounds_ms),
                              latency_bench(INT8, samples(2, 0.5, 0.001), sha256="i" * 64,
                                            repeat_p50_ms=int8_rounds_ms)],
                     started=started, git_commit=commit)


def test_compare_machines_and_history_tell_a_real_change_from_noise(tmp_path, capsys):
    base = run_with_rounds(tmp_path / "a", [1.0, 1.04, 0.98], [0.5, 0.52, 0.49], "2026-01-01T00:00:00")
    # fp32 1.5x slower (a real change), int8 within the rounds' spread.
    new = run_with_rounds(tmp_path / "b", [1.5, 1.52, 1.47], [0.51, 0.49, 0.52], "2026-01-02T00:00:00", "c2")
    c = compare_runs(base, new)
    rows = {r.key.variant: r for r in c.rows}
    assert rows["tflite_fp32"].distinguishable is True and rows["tflite_fp32"].verdict == "REGRESSION"
    assert rows["tflite_int8"].distinguishable is False and rows["tflite_int8"].verdict == "ok"
    assert c.spread == pytest.approx(1.04 / 0.98)   # the larger side's median span (base: both rows span 1.04/0.98)
    assert main(["compare", str(base), str(new)]) == 1
    assert "1 of 2 row(s) with rounds on both sides distinguishable from noise" in capsys.readouterr().out

    store = tmp_path / "results.duckdb"
    ids = [d.run_id for d in import_runs(store, [base, new])]
    with connect(store) as con:
        machines = compare_machines(con, ids, {})
        h = history(con, "p50_ms", dict(model="lesson5_custom"))
    told = {side[0].variant: apart for side, ((_, apart),) in zip(machines.rows, machines.intervals())}
    assert told == {"tflite_fp32": True, "tflite_int8": False}
    steps = {res.variant: s for (_, res), s in zip(h.points, h.steps()) if s.estimate is not None}
    assert steps["tflite_fp32"].beyond_noise is True and steps["tflite_int8"].beyond_noise is False
    assert main(["history", "p50_ms", "--model", "lesson5_custom", "--variant", "tflite_fp32", "--store", str(store),
                 "--plot", str(tmp_path / "h.png")]) == 0
    assert "1 of 1 step(s) beyond noise" in capsys.readouterr().out
    assert main(["machines", str(base), str(new)]) == 0
    out = capsys.readouterr().out
    assert "1 of 2 ratio(s) distinguishable from noise" in out and "≈" in out
    assert "some of these runs are from the same machine" in out


def test_one_round_says_there_is_no_interval(tmp_path, capsys):
    a = write_run(tmp_path / "a", [latency_bench(FP32, samples(1, 1.0, 0.001))], started="2026-01-01T00:00:00")
    b = write_run(tmp_path / "b", [latency_bench(FP32, samples(1, 1.3, 0.001))], started="2026-01-02T00:00:00")
    (row,) = compare_runs(a, b).rows
    assert row.interval is None and row.distinguishable is None and row.p_value is not None
    assert main(["machines", str(a), str(b)]) == 0
    assert "no row has rounds on two sides" in capsys.readouterr().out

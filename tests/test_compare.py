"""The regression gate on synthetic runs written from the typed records (so the test data cannot
drift from the schema): known regressions are caught, identical runs and noise are not,
one-sided rows are listed, bad files are UserErrors naming the file."""

import argparse
import json
import math

import numpy as np
import pytest

from tests.support.factories import bench_file, latency_bench, memory_bench, samples, write_run

from convbench.core.errors import UserError
from convbench.core.records import to_jsonable
from convbench.cli.gate import add_compare_arguments, main_compare
from convbench.core.records.gate import IMPROVED, NOISE, OK, REGRESSION
from convbench.core.records.identity import RowId, threads_label
from convbench.gate.between_runs import Comparison, compare_latency, compare_runs, u_test_can_reach
from convbench.gate.printer import format_table

TIGHT = "lesson5_custom", "tflite_int8", "tflite_int8", "litert", "cpu", 1, 1
NOISY = "lesson5_custom", "onnx_fp32", "onnx_fp32", "onnxruntime", "cpu", 1, 1
STEADY = "lesson4_strided", "tflite_fp32", "tflite_fp32", "litert", "cpu", 8, 1
TIGHT_B8 = TIGHT[:5] + (8, 1)  # same session as TIGHT: its accuracy is compared once


def row_id(key) -> RowId:
    model, variant, fmt, runtime, device, batch, threads = key
    return RowId(kind="latency", model=model, variant=variant, format=fmt, runtime=runtime, device=device,
                 batch=batch, threads=threads_label(threads))


def accuracy_key(key) -> RowId:
    """Accuracy is per (model, variant, format, runtime, device, threads): the row at any batch."""
    return row_id(key).any_batch()


def baseline_benchmarks():
    return [latency_bench(TIGHT, samples(0, 1.0, 0.01)),
            latency_bench(NOISY, samples(1, 2.0, 0.8), accuracy=0.97),
            latency_bench(STEADY, samples(2, 5.0, 0.05), accuracy=0.96),
            latency_bench(TIGHT_B8, samples(3, 4.0, 0.05)),
            memory_bench()]


def test_identical_runs_pass(tmp_path, capsys):
    base = write_run(tmp_path / "base", baseline_benchmarks())
    new = write_run(tmp_path / "new", baseline_benchmarks())
    c = compare_runs(base, new)
    assert c.regressions == [] and c.exit_code == 0
    assert [r.verdict for r in c.rows] == [OK, OK, OK, OK]
    assert all(r.change_pct == 0 for r in c.rows)
    assert c.only_in_baseline == [] and c.only_in_new == [] and c.notes == []
    assert len(c.accuracy_rows) == 3  # one per session (TIGHT and TIGHT_B8 share one); memory is not gated

    args = argparse.ArgumentParser()
    add_compare_arguments(args)
    assert main_compare(args.parse_args([str(base), str(new / "bench.json")])) == 0
    out = capsys.readouterr().out
    assert "Mann-Whitney U" in out and "RESULT: ok (exit 0)" in out


def test_known_regressions_are_caught_and_noise_is_not(tmp_path):
    base = write_run(tmp_path / "base", baseline_benchmarks())
    noisy_base = baseline_benchmarks()[1].stats["data"]
    new = write_run(tmp_path / "new", [
        latency_bench(TIGHT, samples(10, 1.3, 0.01)),              # 30 % slower, tight: a regression
        latency_bench(NOISY, np.array(noisy_base) * 1.12, accuracy=0.95),  # 12 % slower inside wide noise; -2 pp
        latency_bench(STEADY, samples(12, 5.0, 0.05), accuracy=0.955),      # same speed; -0.5 pp: within budget
        latency_bench(TIGHT_B8, samples(13, 4.0, 0.05)),
        memory_bench(peak_rss_mib=900.0)])                          # memory is not gated
    c = compare_runs(base, new, max_accuracy_drop_pp=1.0, max_latency_regression_pct=10.0)
    rows = {r.key: r for r in c.rows}

    assert rows[row_id(TIGHT)].verdict == REGRESSION
    assert rows[row_id(TIGHT)].change_pct == pytest.approx(30, abs=1.5) and rows[row_id(TIGHT)].p_value < 1e-6
    assert rows[row_id(NOISY)].change_pct == pytest.approx(12)
    assert rows[row_id(NOISY)].verdict == NOISE and rows[row_id(NOISY)].p_value >= 0.01
    assert rows[row_id(STEADY)].verdict == OK

    acc = {r.key: r for r in c.accuracy_rows}
    assert acc[accuracy_key(NOISY)].verdict == REGRESSION and acc[accuracy_key(NOISY)].drop_pp == pytest.approx(2)
    assert acc[accuracy_key(STEADY)].verdict == OK and acc[accuracy_key(STEADY)].drop_pp == pytest.approx(0.5)

    assert {r.key for r in c.regressions} == {row_id(TIGHT), accuracy_key(NOISY)} and c.exit_code == 1
    table = format_table(c)
    assert "REGRESSION (exit 1)" in table and "noise" in table
    assert "lesson5_custom/tflite_int8/tflite_int8 litert cpu b1 t1" in table
    assert "REGRESSION lesson5_custom/onnx_fp32/onnx_fp32 onnxruntime cpu t1: accuracy -2.00 pp" in table


def test_a_drop_of_exactly_the_budget_passes(tmp_path):
    # (0.98 - 0.97) * 100 is 1.0000000000000009 in floats: still a 1 pp drop, within a 1 pp budget.
    base = write_run(tmp_path / "base", [latency_bench(TIGHT, samples(0, 1.0, 0.01), accuracy=0.98)])
    new = write_run(tmp_path / "new", [latency_bench(TIGHT, samples(0, 1.0, 0.01), accuracy=0.97)])
    assert [r.verdict for r in compare_runs(base, new, max_accuracy_drop_pp=1.0).accuracy_rows] == [OK]
    assert [r.verdict for r in compare_runs(base, new, max_accuracy_drop_pp=0.99).accuracy_rows] == [REGRESSION]


def test_improvement_is_shown_not_flagged(tmp_path):
    base = write_run(tmp_path / "base", [latency_bench(TIGHT, samples(0, 1.0, 0.01))])
    new = write_run(tmp_path / "new", [latency_bench(TIGHT, samples(3, 0.7, 0.01))])
    c = compare_runs(base, new)
    assert [r.verdict for r in c.rows] == [IMPROVED] and c.exit_code == 0
    assert "improved" in format_table(c)


def test_rows_on_one_side_are_listed(tmp_path):
    gone = "lesson1_transfer", "keras_fp32", "keras", "keras_eager", "cpu", 1, None
    added = "lesson5_custom", "tflite_int8", "tflite_int8", "litert", "cpu", 32, 1
    base = write_run(tmp_path / "base", [latency_bench(TIGHT, samples(0, 1.0, 0.01)),
                                         latency_bench(gone, samples(1, 9.0, 0.1))])
    new = write_run(tmp_path / "new", [latency_bench(TIGHT, samples(0, 1.0, 0.01)),
                                       latency_bench(added, samples(2, 20.0, 0.1))])
    c = compare_runs(base, new)
    assert c.only_in_baseline == ["lesson1_transfer/keras_fp32/keras keras_eager cpu b1 tauto"]
    assert c.only_in_new == ["lesson5_custom/tflite_int8/tflite_int8 litert cpu b32 t1"]
    table = format_table(c)
    assert "only in baseline (1, not compared):" in table and "only in new (1, not compared):" in table
    assert c.exit_code == 0


def test_rows_without_accuracy_are_named(tmp_path):
    unmeasured = NOISY[:5] + (1, 2)
    base = write_run(tmp_path / "base", [latency_bench(TIGHT, samples(0, 1.0, 0.01), accuracy=0.9),
                                         latency_bench(unmeasured, samples(1, 1.0, 0.01), accuracy=None)])
    new = write_run(tmp_path / "new", [latency_bench(TIGHT, samples(0, 1.0, 0.01), accuracy=None),
                                       latency_bench(unmeasured, samples(1, 1.0, 0.01), accuracy=None)])
    c = compare_runs(base, new)
    assert c.only_in_baseline == ["accuracy lesson5_custom/tflite_int8/tflite_int8 litert cpu t1 "
                                  "(the other run did not measure it: session could not run the split)"]
    assert c.accuracy_not_measured == ["lesson5_custom/onnx_fp32/onnx_fp32 onnxruntime cpu t2: "
                                       "session could not run the split"]
    assert "accuracy not measured on either side (1, not compared):" in format_table(c)


def test_machine_and_dataset_notes(tmp_path):
    base = write_run(tmp_path / "base", [latency_bench(TIGHT, samples(0, 1.0, 0.01))])
    new = write_run(tmp_path / "new", [latency_bench(TIGHT, samples(0, 1.0, 0.01))], cpu="Other CPU",
                    fingerprint="e" * 64)
    notes = compare_runs(base, new).notes
    assert notes[0].startswith("different machines (baseline: Test CPU, 2 cores, GPU none; new: Other CPU")
    assert notes[1] == "different data sets (fingerprints differ): accuracies are not comparable"
    # The same model name on another CPU family is another machine.
    zen5, zen2 = ("vendor_id AuthenticAMD, cpu family 26, model 2, stepping 1",
                  "vendor_id AuthenticAMD, cpu family 23, model 49, stepping 0")
    a, b = (write_run(tmp_path / name, [latency_bench(TIGHT, samples(0, 1.0, 0.01))], cpu="AMD EPYC", cpu_id=cpu)
            for name, cpu in (("zen5", zen5), ("zen2", zen2)))
    assert compare_runs(a, b).notes == [
        "different machines (baseline: AMD EPYC (AuthenticAMD, family 26, model 2, stepping 1), 2 cores, GPU none; "
        "new: AMD EPYC (AuthenticAMD, family 23, model 49, stepping 0), 2 cores, GPU none): latency changes may be "
        "the machine's"]
    assert compare_runs(a, a).notes == []


def test_exact_numbers_on_five_samples():
    base = [0.001, 0.002, 0.003, 0.004, 0.005]
    new = [0.006, 0.007, 0.008, 0.009, 0.010]
    row = compare_latency(row_id(TIGHT), base, new, threshold_pct=10, alpha=0.01)
    assert row.base_p50_ms == pytest.approx(3.0) and row.new_p50_ms == pytest.approx(8.0)
    assert row.change_pct == pytest.approx(500 / 3)
    assert row.p_value == pytest.approx(1 / math.comb(10, 5))  # exact test, fully separated samples
    assert row.verdict == REGRESSION


def test_few_samples_fall_back_to_the_threshold():
    row = compare_latency(row_id(TIGHT), [0.010, 0.011, 0.009], [0.013, 0.012, 0.014], threshold_pct=10, alpha=0.01)
    assert row.few_samples and row.p_value is None and row.verdict == REGRESSION
    assert "few samples" in format_table(Comparison("a", "b", 1.0, 10.0, 0.01, rows=[row]))
    assert not u_test_can_reach(4, 100, 0.01)
    assert u_test_can_reach(5, 5, 0.01) and not u_test_can_reach(5, 5, 0.001)


def test_bad_thresholds(tmp_path):
    base = write_run(tmp_path / "base", baseline_benchmarks())
    with pytest.raises(UserError, match="--max-latency-regression"):
        compare_runs(base, base, max_latency_regression_pct=-5)
    with pytest.raises(UserError, match="--alpha"):
        compare_runs(base, base, alpha=1.5)


def bad_file_cases(tmp_path):
    good = write_run(tmp_path / "good", baseline_benchmarks())
    cases = {"missing": tmp_path / "nope" / "bench.json"}
    (tmp_path / "empty_dir").mkdir()
    cases["folder without bench.json"] = tmp_path / "empty_dir"
    valid = to_jsonable(bench_file([latency_bench(TIGHT, [0.1] * 5)]))
    entry = valid["benchmarks"][0]

    def doc(**changes):
        return json.dumps({**valid, **changes})

    def with_entry(**changes):
        return doc(benchmarks=[{**entry, **changes}])

    text = {
        "not JSON": "<html>not json</html>",
        "not UTF-8": b"\xff\xfe\x00junk",
        "no benchmarks": json.dumps({"machine_info": {}, "results": []}),
        "a list": json.dumps([1, 2]),
        "plain pytest-benchmark": json.dumps({"benchmarks": [{"name": "test_foo", "stats": {"data": [0.1]}}]}),
        "older schema": doc(convbench={**valid["convbench"], "schema": "convbench.bench/1"}),
        "empty benchmarks": doc(benchmarks=[]),
        "no extra_info": doc(benchmarks=[{"name": "test_foo", "stats": {"data": [0.1]}}]),
        "extra_info without kind": with_entry(extra_info={"model": "m"}),
        "latency without stats": with_entry(stats=None),
        "latency without timings": with_entry(stats={"data": []}),
        "latency without runtime": with_entry(extra_info={k: v for k, v in entry["extra_info"].items()
                                                          if k != "runtime"}),
        "bad accuracy": with_entry(extra_info={**entry["extra_info"], "accuracy": 97.0}),
        "duplicate row": doc(benchmarks=[entry, entry]),
    }
    for label, content in text.items():
        path = tmp_path / (label.replace(" ", "_") + ".json")
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
        cases[label] = path
    return good, cases


BAD_FILES = ["missing", "folder without bench.json", "not JSON", "not UTF-8", "no benchmarks", "a list",
             "plain pytest-benchmark", "older schema", "empty benchmarks", "no extra_info", "extra_info without kind",
             "latency without stats", "latency without timings", "latency without runtime", "bad accuracy",
             "duplicate row"]


@pytest.mark.parametrize("label", BAD_FILES)
def test_bad_files_name_the_file(tmp_path, label):
    good, cases = bad_file_cases(tmp_path)
    bad = cases[label]
    for pair in ((bad, good), (good, bad)):   # either side
        with pytest.raises(UserError) as err:
            compare_runs(*pair)
        assert str(bad) in str(err.value)
        assert "\n" not in str(err.value)

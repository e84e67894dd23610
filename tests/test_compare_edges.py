"""The time-apart gate at its edges, through the CLI: thousands of rounds (where any U test is
significant, so the threshold must still decide), the exact threshold boundary, --alpha, a run
saved with medians only, and the exit codes 0, 1 and 2."""

from __future__ import annotations

import numpy as np
import pytest

from convbench.cli import main
from convbench.core.records.gate import NOISE, OK, REGRESSION
from convbench.gate.between_runs import compare_latency, compare_runs
from tests.support.factories import latency_bench, samples, write_run
from tests.support.console import one_line_error
from tests.test_compare import TIGHT


def test_thousands_of_rounds_a_tiny_real_change_is_not_a_regression(tmp_path):
    # 3000 rounds each, 2 % slower, tight spread: the U test is certain, the change is small.
    base = samples(0, 1.00, 0.005, n=3000)
    new = samples(1, 1.02, 0.005, n=3000)
    row = compare_latency(TIGHT, list(base), list(new), threshold_pct=10, alpha=0.01)
    assert row.p_value < 1e-12 and row.verdict == OK


def test_the_threshold_boundary_is_inclusive():
    base = [0.001] * 20 + [0.0011] * 20                  # median 1.05 ms
    at = [x * 1.10 for x in base]                         # exactly 10 % slower
    over = [x * 1.1001 for x in base]
    assert compare_latency(TIGHT, base, at, threshold_pct=10, alpha=0.01).verdict == OK
    assert compare_latency(TIGHT, base, over, threshold_pct=10, alpha=0.01).verdict == REGRESSION


def test_alpha_decides_between_noise_and_regression(tmp_path, capsys):
    base = np.linspace(0.8, 1.2, 12) / 1e3
    new = np.linspace(0.85, 1.45, 12) / 1e3                # median 15 % slower, wide overlapping spread
    row = compare_latency(TIGHT, list(base), list(new), threshold_pct=10, alpha=0.5)
    assert 0.01 < row.p_value < 0.5, row.p_value           # a case where alpha decides (p = 0.034)
    a = write_run(tmp_path / "a", [latency_bench(TIGHT, base)])
    b = write_run(tmp_path / "b", [latency_bench(TIGHT, new)])
    assert compare_runs(a, b, alpha=0.01).rows[0].verdict == NOISE
    assert main(["compare", str(a), str(b), "--alpha", "0.5"]) == 1
    assert "REGRESSION" in capsys.readouterr().out
    assert main(["compare", str(a), str(b), "--alpha", "0.01"]) == 0


def test_a_run_saved_with_medians_only_falls_back_to_the_threshold(tmp_path):
    # pytest-benchmark's autosave without --benchmark-save-data keeps only stats.median.
    entry = latency_bench(TIGHT, samples(0, 1.0, 0.01))
    entry.stats = {"median": entry.stats["median"]}
    slow = latency_bench(TIGHT, samples(1, 1.3, 0.01))
    slow.stats = {"median": slow.stats["median"]}
    c = compare_runs(write_run(tmp_path / "a", [entry]), write_run(tmp_path / "b", [slow]))
    assert c.rows[0].few_samples and c.rows[0].verdict == REGRESSION


def test_exit_codes_through_the_cli(tmp_path, capsys):
    fast = write_run(tmp_path / "fast", [latency_bench(TIGHT, samples(0, 1.0, 0.01))])
    slow = write_run(tmp_path / "slow", [latency_bench(TIGHT, samples(1, 1.5, 0.01))])
    assert main(["compare", str(fast), str(fast)]) == 0
    assert main(["compare", str(fast), str(slow)]) == 1
    assert "RESULT: REGRESSION (exit 1)" in capsys.readouterr().out
    assert main(["compare", str(fast), str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err
    assert "missing: no such file or folder" in err and "Traceback" not in err


@pytest.mark.parametrize("value", ["-1", "nan"])
def test_a_bad_threshold_through_the_cli_is_exit_2(tmp_path, capsys, value):
    run = write_run(tmp_path / "a", [latency_bench(TIGHT, samples(0, 1.0, 0.01))])
    assert main(["compare", str(run), str(run), "--max-latency-regression", value]) == 2
    assert "--max-latency-regression" in capsys.readouterr().err



BAD_VALUES = [("--max-latency-regression", v) for v in ("-1", "nan", "inf")] + \
             [("--max-accuracy-drop", v) for v in ("-0.5", "nan", "inf")] + \
             [("--alpha", v) for v in ("0", "1", "1.5", "-0.1", "nan")] + \
             [("--row-time", v) for v in ("0", "-1", "nan", "inf")]


@pytest.mark.parametrize("option,value", BAD_VALUES)
def test_every_compare_value_is_checked_before_any_input_is_read(tmp_path, capsys, option, value):
    # Checked in both modes: here the inputs do not even exist, and nothing is written.
    out = tmp_path / "out"
    argv = ["compare", str(tmp_path / "a"), str(tmp_path / "b"), "--out", str(out), option, value]
    assert main(argv) == 2
    one_line_error(capsys.readouterr().err, f"{option} {float(value)!r}")
    assert not out.exists()

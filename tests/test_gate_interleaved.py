"""The interleaved A/B gate: its statistics on exact small inputs, the ABBA order and shared
inputs of the timing loop, and real runs on the tiny artifacts (LiteRT, ONNX Runtime) where
the outcome does not depend on the machine's speed: a known accuracy loss, and busy work that
is hundreds of times a call."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from convbench.cli import main
from convbench.core.errors import UserError
from convbench.core.records import MANIFEST_FILE, read_manifest, read_record, write_manifest
from convbench.core.records.gate import (CALIBRATION_FILE, IMPROVED, INTERLEAVED_FILE, NOISE, OK, REGRESSION,
                                         GateCalibration, InterleavedRun)
from convbench.core.runtimes.base import Session
from convbench.core.stats import RatioEstimate
from convbench.gate.abba import InterleaveBudget, time_interleaved
from convbench.gate.calibrate import SlowedSession, calibrate, median_call_s
from convbench.gate.interleaved import GateOptions, accuracy_verdict, gate_rows, latency_verdict, run_interleaved
from tests.test_compare_edges import one_line_error

FAST = InterleaveBudget(row_time_s=0.05, min_blocks=10)


# ---- verdicts (the statistics themselves: test_paired_stats.py) ------------------------

@pytest.mark.parametrize("estimate,verdict", [
    (RatioEstimate(1.04, 1.03, 1.05), OK),            # significant, but within the threshold
    (RatioEstimate(1.08, 1.02, 1.12), REGRESSION),    # beyond the threshold and the interval above 1
    (RatioEstimate(1.08, 0.97, 1.20), NOISE),         # beyond, but the interval includes 1
    (RatioEstimate(0.90, 0.88, 0.93), IMPROVED),
    (RatioEstimate(0.90, 0.80, 1.01), NOISE),
])
def test_latency_verdict(estimate, verdict):
    assert latency_verdict(estimate, threshold_pct=5) == verdict


def test_accuracy_verdict_is_the_budget():
    assert accuracy_verdict(1.0, 1.0) == OK and accuracy_verdict(1.01, 1.0) == REGRESSION
    assert accuracy_verdict(-0.5, 1.0) == IMPROVED


# ---- the timing loop ---------------------------------------------------------------------

class Recorder(Session):
    """Records which side ran which input, in order (a unit-test double, no runtime)."""

    def __init__(self, name: str, log: list):
        self.runtime, self.batch, self.device_used, self.log, self.name = "test", 1, "cpu", log, name
        self.input_shape, self.output_shape = (1, 2), (1, 2)

    def _prepare(self, x):
        return int(x[0, 0])

    def run(self, feed):
        self.log.append((self.name, feed))
        return np.zeros(self.output_shape, np.float32)


def test_rounds_alternate_abba_on_the_same_inputs():
    log: list = []
    x = [np.full((1, 2), i, np.float32) for i in range(3)]
    budget = InterleaveBudget(row_time_s=1e-9, min_blocks=3, max_blocks=3, min_round_s=1e-9, warmup_calls=1)
    timed = time_interleaved(Recorder("A", log), Recorder("B", log), x, budget)
    assert timed.calls_per_round == 1 and len(timed.base_round_s) == len(timed.change_round_s) == 6
    measured = log[-12:]  # after the warm-up
    assert [side for side, _ in measured] == list("ABBA" * 3)
    assert [feed for _, feed in measured] == [0] * 4 + [1] * 4 + [2] * 4


# ---- real runs on the tiny artifacts -----------------------------------------------------

@pytest.fixture
def tiny(tiny_manifest):
    return tiny_manifest.parent


def worse_change(tiny, tmp_path):
    """A change manifest whose fp32 TFLite row is really the int8 file: one held-out image
    fewer is right (98.44 % against 100 %), a 1.56 pp drop."""
    manifest = read_manifest(tiny / MANIFEST_FILE)
    int8 = manifest.artifact("tiny", "tflite_int8_io", "tflite_int8_io")
    for a in manifest.artifacts:
        if a.variant == "tflite_fp32":
            a.path, a.sha256 = int8.path, int8.sha256
    path = tmp_path / "change" / MANIFEST_FILE  # its paths are rewritten relative to this folder
    write_manifest(path, manifest)
    return path


def test_an_accuracy_loss_fails_the_interleaved_gate(tiny, tmp_path, capsys):
    change = worse_change(tiny, tmp_path)
    rc = main(["compare", str(tiny), str(change), "--out", str(tmp_path), "--row-time", "0.05"])
    out = capsys.readouterr().out
    assert rc == 1 and "RESULT: REGRESSION (exit 1), decided by the interleaved A/B mode" in out
    (path,) = (tmp_path / "gates").glob(f"*/{INTERLEAVED_FILE}")
    run = read_record(path, InterleavedRun)
    acc = {a.variant: a for a in run.accuracy}
    assert acc["tflite_fp32"].verdict == REGRESSION and acc["tflite_fp32"].drop_pp == pytest.approx(100 / 64)
    assert (acc["tflite_fp32"].base_only_correct, acc["tflite_fp32"].change_only_correct) == (1, 0)
    assert acc["onnx_fp32"].verdict == OK and acc["onnx_fp32"].p_value == 1.0
    assert {r.variant for r in run.rows} == {"tflite_fp32", "tflite_int8_io", "onnx_fp32"}
    for r in run.rows:
        assert len(r.base_round_s) == len(r.change_round_s) >= 2 * FAST.min_blocks and r.calls_per_round >= 1
    assert {label: why.split(":")[0] for label, why in run.not_compared.items()} == {
        "tiny/keras_fp32/keras": "the trained Keras model",
        "tiny/tflite_fp16/tflite_fp16": "failed in the base manifest"}
    assert run.machine.fingerprint and run.max_latency_regression_pct == 5.0  # the calibrated default


def test_busy_work_on_one_side_is_a_latency_regression(tiny, tmp_path):
    # 200 us of spinning per call on a model that runs in microseconds: many times the call.
    def slowed(base, change, x):
        return SlowedSession(change, 200e-6)

    options = GateOptions(base=tiny, change=tiny, out=tmp_path, variants=("tflite_fp32",), budget=FAST)
    run, _ = run_interleaved(options, change_hook=slowed, slowdown_pct=None)
    (row,) = run.rows
    assert row.verdict == REGRESSION and row.ratio_ci_low > 1.05
    assert row.change_p50_ms >= 0.2 and row.base_p50_ms < row.change_p50_ms


def test_slowed_session_adds_its_busy_work_to_every_call(tiny):
    from convbench.core.runtimes import get_runtime

    manifest = read_manifest(tiny / MANIFEST_FILE)
    path = manifest.artifact_path(manifest.artifact("tiny", "tflite_fp32", "tflite_fp32"))
    inner = get_runtime("litert").load(path, threads=1, batch=1)
    slowed = SlowedSession(inner, 1e-3)
    x = [np.random.default_rng(0).random((1, 8, 8, 1), dtype=np.float32)]
    assert median_call_s(slowed, x, calls=5) >= 1e-3
    np.testing.assert_array_equal(slowed.predict(x[0]), inner.predict(x[0]))


def test_calibration_writes_both_runs_with_the_machine(tiny, tmp_path, capsys):
    options = GateOptions(base=tiny, change=tiny, out=tmp_path, variants=("onnx_fp32",), budget=FAST, accuracy=False)
    calibration, path = calibrate(options, slowdown_pct=10)
    assert path.name == CALIBRATION_FILE and read_record(path, GateCalibration).machine == calibration.machine
    assert [r.slowdown_injected_pct for r in calibration.slowed.rows] == [10]
    assert [r.slowdown_injected_pct for r in calibration.aa.rows] == [None]
    assert calibration.aa.accuracy == [] and len(calibration.aa.rows) == 1
    progress = [line.rsplit(" at ", 1)[0] for line in capsys.readouterr().err.splitlines()]
    assert progress == ["calibration A/A: tiny done, 1/1 rows", "calibration +10 %: tiny done, 1/1 rows"]


def test_the_interleaved_gates_progress_reaches_the_console_not_the_log(tiny, tmp_path, capsys):
    # Under the quiet console sys.stderr is the command's library log: the progress goes to
    # quiet.user_stream() (here capsys; a bar on a terminal, a line per model without one).
    argv = ["compare", str(tiny), str(tiny), "--out", str(tmp_path), "--row-time", "0.05", "--variants", "onnx_fp32"]
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert [line.rsplit(" at ", 1)[0] for line in err.splitlines()] == ["interleaved A/B: tiny done, 1/1 rows"]
    assert not any("interleaved A/B" in log.read_text() for log in (tmp_path / "logs").glob("*.log"))
    gate = Path(run_interleaved.__code__.co_filename).parent
    assert [f.name for f in gate.glob("*.py") if "sys.stderr" in f.read_text()] == []


def test_mode_comes_from_the_inputs_and_mixing_them_is_an_error(tiny, tmp_path, capsys):
    from tests.support.factories import latency_bench, write_run

    run = write_run(tmp_path / "run", [latency_bench(("m", "v", "f", "litert", "cpu", 1, 1), [0.001] * 5)])
    assert main(["compare", str(run), str(tiny)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "one is a run and the other a manifest" in err
    assert main(["compare", str(run), str(run)]) == 0
    assert "decided by the between-runs mode" in capsys.readouterr().out


def test_manifests_of_different_data_are_refused(tiny, tmp_path):
    other = tmp_path / "other"
    shutil.copytree(tiny, other, ignore=shutil.ignore_patterns("gates", "runs"))
    doc = json.loads((other / MANIFEST_FILE).read_text())
    doc["dataset"]["fingerprint"] = "0" * 64
    (other / MANIFEST_FILE).write_text(json.dumps(doc))
    with pytest.raises(UserError, match="another data set"):
        run_interleaved(GateOptions(base=tiny, change=other, out=tmp_path, budget=FAST))
    assert not (tmp_path / "gates").exists()


def test_rows_left_out_are_named(tiny):
    base = read_manifest(tiny / MANIFEST_FILE)
    change = read_manifest(tiny / MANIFEST_FILE)
    change.artifacts = [a for a in change.artifacts if a.variant != "onnx_fp32"]
    rows, left_out = gate_rows(base, change)
    assert [r.base.variant for r in rows] == ["tflite_fp32", "tflite_int8_io"]
    assert left_out["tiny/onnx_fp32/onnx_fp32"] == "only in the base manifest"
    rows, left_out = gate_rows(change, base)
    assert left_out["tiny/onnx_fp32/onnx_fp32"] == "only in the change manifest"


# ---- bad input through the CLI: exit 2, one line naming it, before any work ---------------

@pytest.mark.parametrize("args,named", [
    (["--models", "nope"], "unknown model(s) 'nope'"),
    (["--variants", "tflite_fp32", "nope"], "unknown variant(s) 'nope'"),
    (["--row-time", "0"], "--row-time 0.0"),
    (["--max-latency-regression", "nan"], "--max-latency-regression nan"),
])
def test_bad_input_to_the_interleaved_gate_is_refused_before_any_work(tiny, tmp_path, capsys, args, named):
    out = tmp_path / "out"
    assert main(["compare", str(tiny), str(tiny), "--out", str(out), *args]) == 2
    one_line_error(capsys.readouterr().err, named)
    assert not out.exists()       # no lock taken, no gates/ folder, no log


@pytest.mark.parametrize("args,named", [
    (["--slowdown", "0"], "--slowdown 0.0"),
    (["--slowdown", "-10"], "--slowdown -10.0"),
    (["--slowdown", "nan"], "--slowdown nan"),
    (["--slowdown", "inf"], "--slowdown inf"),
    (["--slowdown", "1001"], "--slowdown 1001.0"),
    (["--max-latency-regression", "-5"], "--max-latency-regression -5.0"),
    (["--alpha", "1"], "--alpha 1.0"),
    (["--row-time", "-0.5"], "--row-time -0.5"),
    (["--models", "nope"], "unknown model(s) 'nope'"),
    (["--variants", "nope"], "unknown variant(s) 'nope'"),
])
def test_bad_input_to_calibrate_gate_is_refused_before_any_work(tiny, tmp_path, capsys, args, named):
    out = tmp_path / "out"
    assert main(["calibrate-gate", "--manifest", str(tiny), "--out", str(out), *args]) == 2
    one_line_error(capsys.readouterr().err, named)
    assert not out.exists()


def test_calibrate_gate_names_a_missing_manifest(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["calibrate-gate", "--manifest", str(tmp_path / "nowhere"), "--out", str(out)]) == 2
    one_line_error(capsys.readouterr().err, str(tmp_path / "nowhere"))
    assert not out.exists()


def test_calibrate_checks_its_slowdown_for_library_callers_too(tiny, tmp_path):
    options = GateOptions(base=tiny, change=tiny, out=tmp_path, variants=("onnx_fp32",), budget=FAST, accuracy=False)
    with pytest.raises(UserError, match="--slowdown"):
        calibrate(options, slowdown_pct=0)
    assert not (tmp_path / "gates").exists()
    with pytest.raises(UserError, match="--row-time"):
        InterleaveBudget(row_time_s=float("nan"))

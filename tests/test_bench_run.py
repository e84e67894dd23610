"""`convbench bench` end to end on the tiny artifacts folder: the published run folder holds
bench.json (valid records), the manifest snapshot and nothing half-written; a copy of the
artifacts folder elsewhere benchmarks with no failed row; a caching runtime fails its audit
through the whole suite (exit 1, recorded, printed)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from convbench.benchmarks.bench import BENCH_LOG, BenchOptions, run_bench_with_folder
from convbench.core.records import BENCH_FILE, MANIFEST_FILE, load_run, read_manifest
from convbench.cli.stages import bench_and_store
from convbench.store.db import connect, store_path
from convbench.store.queries import list_runs
from convbench.store.rows import run_id
from tests.support.plugins import bench_plugin
from tests.support.tiny import TINY_FLOPS, copy_tiny_bench

TINY_OPS = TINY_FLOPS  # a 'valid' conv and a dense layer: no padded border, both counts agree


@pytest.fixture(scope="module")
def tiny_out(tiny_manifest, tmp_path_factory):
    """This module's copy of the tiny artifacts folder: its tests publish runs into it, in order."""
    return copy_tiny_bench(tiny_manifest.parent, tmp_path_factory.mktemp("bench_run") / "artifacts")


def quick(out: Path, tmp_path: Path, **kw) -> BenchOptions:
    return BenchOptions(**{"quick": True, "runtimes": ("litert",), "batches": (1,), "out": out,
                           "storage": tmp_path / "storage", **kw})


def _git_head() -> str | None:
    out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, cwd=Path(__file__).parent)
    return out.stdout.strip() if out.returncode == 0 else None


def test_run_bench_publishes_a_complete_run_folder(tiny_out, tmp_path, capsys):
    rc, run_dir = bench_and_store(quick(tiny_out, tmp_path, suites=("latency", "audit", "layers")))
    assert rc == 0 and sorted(p.name for p in run_dir.iterdir()) == [BENCH_FILE, BENCH_LOG, MANIFEST_FILE]
    assert [p.name for p in run_dir.parent.iterdir()] == [run_dir.name]  # no temporary folder left
    run = load_run(run_dir, require_manifest=True)
    lat = run.latency
    assert {r.format for r in lat} == {"tflite_fp32", "tflite_int8_io"} and all(run.samples_s[r.key] for r in lat)
    for r in lat:
        # Accuracy measured by this row's own session: the tiny labels are the Keras model's
        # own decisions, so fp32 TFLite agrees on every one of the 64 held-out images.
        assert r.accuracy_images == 64 and r.accuracy is not None and r.agreement_vs_fp32 is not None
        assert r.audit.passed and r.sha256 == run.artifact(r).sha256 and (run_dir / r.artifact).is_file()
    fp32 = next(r for r in lat if r.format == "tflite_fp32")
    assert fp32.accuracy == 1.0 and fp32.agreement_vs_fp32 == 1.0
    assert run.record.git_commit == _git_head()
    # Roofs measured before the first row and after the last; every row divided by its precision's.
    roofs = run.record.roofs
    assert [d.device for d in roofs.at_start] == [d.device for d in roofs.at_end] == ["cpu"]
    assert {r.format: r.roof_precision for r in lat} == {"tflite_fp32": "fp32", "tflite_int8_io": "int8"}
    assert all(0 < r.fraction_of_roof <= 1 and r.ops_per_image == TINY_OPS for r in lat)
    layers = run.of("layers")   # quick: the fp32 TFLite file (the tiny manifest has no tflite_int8)
    assert [(r.format, r.threads) for r in layers] == [("tflite_fp32", 1)] and layers[0].passed
    assert any("made up for the tests" in s.reason for s in run.record.skipped)
    assert {a.metric for a in run.of("audit")} == {"caching", "harness_overhead"}
    assert list((tmp_path / "storage").rglob("*.json"))  # pytest-benchmark's own autosave
    printed = capsys.readouterr()
    assert "p50 ms" in printed.out and "tflite_int8_io" in printed.out and "headlines" in printed.out
    # one progress display (a line per suite: no terminal here); pytest's own output in bench.log
    assert "bench: latency done, " in printed.err and "bench: audit done, " in printed.err
    assert "test session starts" in (run_dir / BENCH_LOG).read_text() and "session starts" not in printed.out
    # ... and stored in the artifacts folder's results store, machine and commit with it.
    with connect(store_path(tiny_out)) as con:
        stored = {r.run_id: (r, m) for r, m in list_runs(con)}
    row, machine = stored[run_id(run)]
    assert row.git_commit == run.record.git_commit and row.rows == len(run.results)
    assert machine.machine_id == run.record.machine.fingerprint and f"stored as run {run_id(run)[:12]}" in printed.out


def test_a_copied_artifacts_folder_benchmarks_without_failures(tiny_out, tmp_path):
    elsewhere = tmp_path / "moved" / "artifacts"
    shutil.copytree(tiny_out, elsewhere, ignore=shutil.ignore_patterns("runs"))
    hidden = tiny_out.with_name("hidden")
    tiny_out.rename(hidden)  # the original is gone: nothing may resolve to it
    try:
        rc, run_dir = run_bench_with_folder(quick(elsewhere, tmp_path, runtimes=("litert", "onnxruntime"),
                                                  suites=("latency",)))
    finally:
        hidden.rename(tiny_out)
    run = load_run(run_dir)
    assert rc == 0 and run.record.failed == [] and len(run.latency) == 3
    assert read_manifest(elsewhere / MANIFEST_FILE).folder == elsewhere


def test_a_store_it_cannot_write_is_refused_before_measuring(tiny_out, tmp_path):
    from convbench.core.errors import UserError

    out = tmp_path / "artifacts"
    shutil.copytree(tiny_out, out, ignore=shutil.ignore_patterns("runs", "results.duckdb"))
    store_path(out).write_text("not a database\n")
    with pytest.raises(UserError, match="results.duckdb: results store cannot open it.*not a valid DuckDB"):
        bench_and_store(quick(out, tmp_path, suites=("latency",)))
    assert not (out / "runs").exists() and store_path(out).read_text() == "not a database\n"


def test_a_caching_runtime_fails_the_audit_through_the_suite(tiny_out, tmp_path, capsys, monkeypatch):
    rc, run_dir = run_bench_with_folder(quick(tiny_out, tmp_path, suites=("audit",),
                                              pytest_args=bench_plugin(monkeypatch, "caching_litert")))
    assert rc == 1
    caching = [a for a in load_run(run_dir).of("audit") if a.metric == "caching"]
    assert len(caching) == 1 and caching[0].caching.passed is False and caching[0].caching.speedup > 1.5
    printed = capsys.readouterr().out
    assert "caching audits: 0/1 passed; FAILED:" in printed and "FAILED test_audit[caching" in printed


def test_one_memory_child_reports_each_batch_apart(tiny_out):
    from convbench.benchmarks.memory import measure_peak_rss_batches

    manifest = read_manifest(tiny_out / MANIFEST_FILE)
    path = manifest.artifact_path(manifest.artifact("tiny", "tflite_fp32", "tflite_fp32"))
    b1, big = measure_peak_rss_batches("litert", path, (1, 256), threads=1)
    assert (b1.batch, big.batch) == (1, 256) and 0 < b1.baseline_rss_mib < b1.peak_rss_mib
    assert b1.peak_reset is None and big.peak_reset is _clear_refs_writable()
    assert big.model_rss_mib == pytest.approx(big.peak_rss_mib - big.baseline_rss_mib)


def _clear_refs_writable() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False

"""The benchmark harness: exact extra_info on known inputs, audits that do fail on a wrong output
or a caching session, the matrix generated from a tiny manifest, GPU rows skipped with a reason,
bad names and a missing manifest as user errors, and one tiny end-to-end `run_bench`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest

from convbench.benchmarks import matrix
from convbench.benchmarks.bench import (BenchOptions, compare_medians, run_bench, run_bench_with_folder, summarize,
                                        validate_names)
from convbench.benchmarks.harness import (OverheadAudit, RoundBudget, audit_caching, audit_outputs, measure_caching,
                                          measure_latency)
from convbench.benchmarks.manifest import find_dataset_file, load_manifest, resolve_artifact_path
from convbench.benchmarks.records import achieved_gflops, latency_extra_info, peak_for
from convbench.runtimes import gpu_available
from convbench.benchmarks.stats import LatencyStats
from convbench.errors import UserError

HAS_GPU, _ = gpu_available()


@pytest.fixture(scope="session")
def tiny_manifest(tmp_path_factory):
    from convbench.benchmarks.tiny import write_tiny_manifest

    return write_tiny_manifest(tmp_path_factory.getbasetemp() / "tiny_bench")


# ---- extra_info on known inputs ------------------------------------------------------------

def _case(**kw):
    row = {"bytes": 1000, "gzip_bytes": 900, "params": 10, "nonzero_params": 5, "sparsity": 0.5,
           "flops_per_image": 2_000_000, "accuracy": 0.97, "agreement_vs_fp32": 0.99, "technique": "none"}
    base = dict(kind="latency", model="m", variant="tflite_int8", format="tflite_int8", runtime="litert",
                device="cpu", batch=4, threads=1, path="/x.tflite", row=row)
    return matrix.Case(**{**base, **kw})


def test_latency_extra_info_exact():
    # ms 1, 2, 3, 4, 10 -> p50 3, p90 7.6, p99 9.76, IQR 2; 4 items per call.
    stats = LatencyStats.from_seconds([0.004, 0.001, 0.010, 0.003, 0.002], batch=4)
    info = latency_extra_info(
        _case(), stats, load_s=0.05, first_inference_s=0.012, rounds=5, warmup_calls=2,
        audit={"audit_outputs_equal": True}, session={"device_used": "cpu", "providers": ["XNNPACK"],
                                                      "runtime_version": "ai-edge-litert 9"},
        peaks={1: 10.0, 2: 16.0}, context={"dataset_fingerprint": "abc"},
        pool_labels=np.array([1, 2, 3, 4]), pool_predictions=np.array([1, 2, 0, 4]))
    assert info["key"] == "latency|-|m|tflite_int8|tflite_int8|litert|cpu|4|1"
    assert (info["p50_ms"], info["p90_ms"], info["p99_ms"], info["iqr_ms"]) == pytest.approx((3.0, 7.6, 9.76, 2.0))
    assert info["throughput_items_per_s"] == pytest.approx(4 / 0.003)
    assert (info["load_ms"], info["first_inference_ms"]) == pytest.approx((50.0, 12.0))
    # 2 MFLOP x 4 images / 3 ms = 2.667 GFLOP/s; the 1-thread peak is 10 GFLOP/s.
    assert info["achieved_gflops"] == pytest.approx(8e6 / 3e-3 / 1e9)
    assert (info["sgemm_peak_gflops"], info["fraction_of_peak"]) == pytest.approx((10.0, 0.26667), rel=1e-4)
    assert (info["pool_images"], info["pool_accuracy"]) == (4, 0.75)
    assert (info["accuracy"], info["gzip_bytes"], info["sparsity"]) == (0.97, 900, 0.5)
    assert info["dataset_fingerprint"] == "abc" and info["providers"] == ["XNNPACK"]
    json.dumps(info)  # must serialise into bench.json


def test_peak_and_gflops_helpers():
    assert peak_for({1: 10.0, 2: 16.0}, None) == 16.0  # runtime default threads: all cores
    assert peak_for({1: 10.0, 2: 16.0}, 2) == 16.0 and peak_for({}, 1) is None
    assert achieved_gflops(1e9, 2, 1000.0) == pytest.approx(2.0) and achieved_gflops(None, 1, 1.0) is None


def test_round_budget():
    b = RoundBudget(time_s=0.2, min_rounds=7, max_rounds=100)
    assert (b.rounds_for(0.001), b.rounds_for(1.0), b.rounds_for(1e-6)) == (100, 7, 100)
    assert b.rounds_for(0.01) == 20


# ---- audits can fail -----------------------------------------------------------------------

class FakeSession:
    """Duck-typed Session: output = per-image sum times a weight; optional faults."""

    def __init__(self, batch=1, honest_calls=None, cache=False, work_s=0.0, cost=lambda feed: 1.0):
        self.batch, self.calls, self.honest_calls, self.cache, self.work_s = batch, 0, honest_calls, cache, work_s
        self.cost = cost  # feed -> multiplier of work_s: content-dependent compute time
        self._last = None

    def prepare(self, x):
        return np.ascontiguousarray(x, dtype=np.float32)

    def run(self, feed):
        self.calls += 1
        if self.cache and feed is self._last:
            return self._last_out  # a result cache: no work for a repeated input
        end = time.perf_counter() + self.work_s * self.cost(feed)
        while time.perf_counter() < end:
            pass
        out = np.stack([feed.reshape(len(feed), -1).sum(1), -feed.reshape(len(feed), -1).sum(1)], 1)
        if self.honest_calls is not None and self.calls > self.honest_calls:
            out = out[:, ::-1].copy()  # wrong answers once the accuracy pass is over
        self._last, self._last_out = feed, out
        return out

    def postprocess(self, raw):
        return np.asarray(raw, dtype=np.float32)


def _batches(n, batch=1, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.random((batch, 3), dtype=np.float32) - 0.5 for _ in range(n)]


def test_output_audit_flags_wrong_timed_outputs():
    budget = RoundBudget(time_s=0.001, min_rounds=10, max_rounds=10)
    honest = measure_latency(FakeSession(batch=2), _batches(4, 2), budget)
    assert honest.audit.passed and honest.audit.checked == 10 and honest.rounds == 10
    # First inference + 3 more accuracy-pass calls are right, every later call is wrong.
    cheat = measure_latency(FakeSession(batch=2, honest_calls=4), _batches(4, 2), budget)
    assert not cheat.audit.passed and cheat.audit.mismatched == 10 and cheat.audit.argmax_changes > 0


def test_output_audit_tolerance_and_shape():
    ref = [np.array([[0.1, 0.9]], np.float32)]
    assert audit_outputs([(0, ref[0] + 1e-7)], ref).passed
    assert not audit_outputs([(0, ref[0] + 0.01)], ref).passed  # same argmax, values off
    assert not audit_outputs([(0, np.zeros((1, 3), np.float32))], ref).passed
    assert not audit_outputs([], ref).passed  # nothing checked is not a pass


def test_caching_audit_flags_a_caching_session():
    audit, samples = measure_caching(FakeSession(cache=True, work_s=300e-6), _batches(41))
    assert not audit.passed and audit.speedup > 5 and len(samples) == 200
    honest, _ = measure_caching(FakeSession(work_s=300e-6), _batches(41))
    assert honest.passed and 0.8 < honest.speedup < 1.25


def test_caching_audit_is_not_fooled_by_inputs_that_are_cheaper_to_compute():
    # Every other input costs 15 % less, as some real images do: no cache, so it must pass.
    cheap = FakeSession(work_s=300e-6, cost=lambda feed: 0.85 if feed.sum() > 0 else 1.0)
    audit, _ = measure_caching(cheap, _batches(41))
    assert audit.passed, audit


def test_caching_audit_rule_on_known_samples():
    first = np.array([1.0, 1.01, 0.99, 1.0, 1.02, 0.98] * 5)
    assert audit_caching(first, first * 0.5).passed is False
    assert audit_caching(first, first * np.array([0.99, 1.0, 1.01] * 10)).passed is True
    # 3 % faster is within the 5 % floor even when significant.
    assert audit_caching(first, first * 0.97).passed is True


def test_overhead_audit_limit():
    assert OverheadAudit(1.02, 1.0, 2.0, 5.0).passed and not OverheadAudit(1.1, 1.0, 10.0, 5.0).passed


# ---- manifest, names, matrix ------------------------------------------------------------------

def test_missing_manifest_says_run_optimize(tmp_path):
    with pytest.raises(UserError, match="convbench optimize"):
        load_manifest(tmp_path / "manifest.json")
    with pytest.raises(UserError, match="convbench optimize"):
        run_bench(BenchOptions(out=tmp_path))


def test_unknown_names_list_valid_ones(tiny_manifest):
    manifest = load_manifest(tiny_manifest)
    with pytest.raises(UserError, match=r"unknown runtime.*'tflite_micro'.*valid: .*litert"):
        BenchOptions(runtimes=("tflite_micro",))
    with pytest.raises(UserError, match=r"unknown model.*'lesson9'.*valid.*tiny"):
        validate_names(BenchOptions(models=("lesson9",)), manifest)
    with pytest.raises(UserError, match=r"unknown variant.*'int3'.*valid.*tflite_int8_io"):
        validate_names(BenchOptions(variants=("int3",)), manifest)
    with pytest.raises(UserError, match="device"):
        BenchOptions(device="tpu")
    with pytest.raises(UserError, match="batches"):
        BenchOptions(batches=(0,))


def test_manifest_paths_and_dataset(tiny_manifest, tmp_path, monkeypatch):
    manifest = load_manifest(tiny_manifest)
    assert all(manifest.artifact_path(r).exists() for r in manifest.rows if r.get("path"))
    assert find_dataset_file(manifest.folder / "data", manifest.fingerprint).suffix == ".npz"
    with pytest.raises(UserError, match="fingerprint"):
        find_dataset_file(manifest.folder / "data", "0" * 64)
    # 'artifacts/x' recorded by a run in the repository resolves next to the manifest from elsewhere.
    (tmp_path / "artifacts" / "sub").mkdir(parents=True)
    (tmp_path / "artifacts" / "sub" / "a.tflite").write_bytes(b"x")
    monkeypatch.chdir(tmp_path / "artifacts")
    assert resolve_artifact_path(tmp_path / "artifacts" / "manifest.json", "artifacts/sub/a.tflite").exists()


def test_default_matrix_from_tiny_manifest(tiny_manifest):
    manifest = load_manifest(tiny_manifest)
    cases = matrix.latency_cases(manifest, BenchOptions())
    by = {(c.format, c.runtime, c.batch, c.threads) for c in cases if not c.skip}
    for b in (1, 8, 32, 128):
        assert {("tflite_fp32", "litert", b, 1), ("tflite_fp32", "litert", b, 2),
                ("tflite_fp32", "litert_noxnnpack", b, 1), ("onnx_fp32", "onnxruntime", b, 2),
                ("onnx_fp32", "onnxruntime_basic", b, 1), ("tflite_int8_io", "litert", b, 1)} <= by
    # Thread scaling and no-XNNPACK only on the fp32 / int8 baselines, not on int8-I/O.
    assert not any(c.format == "tflite_int8_io" and (c.runtime == "litert_noxnnpack" or c.threads == 2)
                   for c in cases)
    keras = sorted((c.runtime, c.batch, c.threads) for c in cases if c.format == "keras")
    assert keras == [(r, b, None) for r in ("keras_eager", "tf_function", "tf_xla") for b in (1, 32)]
    assert [(c.runtime, c.batch, c.format) for c in cases if c.runtime == "null"] == [("null", 1, "tflite_fp32")]
    failed = [c for c in cases if c.skip]
    assert len(failed) == 1 and "made up for the tests" in failed[0].skip
    assert len({c.key for c in cases}) == len(cases) == len({c.id for c in cases})
    assert all(c.device == "cpu" for c in cases)

    memory = matrix.memory_cases(manifest, BenchOptions())
    assert sorted((c.format, c.runtime, c.batch, c.batches) for c in memory if not c.skip) == sorted(
        (f, r, 128, (1, 128)) for f, r in (("keras", "keras_eager"), ("tflite_fp32", "litert"),
                                           ("tflite_int8_io", "litert"), ("onnx_fp32", "onnxruntime")))
    audits = matrix.audit_cases(manifest, BenchOptions())
    assert sorted((c.format, c.metric) for c in audits) == sorted(
        (f, a) for f in ("tflite_fp32", "onnx_fp32") for a in ("caching", "harness_overhead"))


def test_quick_and_filtered_matrix(tiny_manifest):
    manifest = load_manifest(tiny_manifest)
    quick = matrix.latency_cases(manifest, BenchOptions(quick=True))
    assert {c.batch for c in quick} == {1, 32} and {c.threads for c in quick} <= {1, None}
    assert {c.runtime for c in quick} == {"litert", "onnxruntime", "keras_eager", "null"}
    one = matrix.latency_cases(manifest, BenchOptions(quick=True, runtimes=("litert",), batches=(1,),
                                                      variants=("tflite_fp32",)))
    assert [c.id for c in one] == ["tiny-tflite_fp32-tflite_fp32-litert-cpu-b1-t1"]
    assert len(matrix.scaling_cases(manifest, BenchOptions())) == 4 * 4 * 2  # sides x formats x metrics
    assert len(matrix.pipeline_cases(manifest, BenchOptions(quick=True))) == 2


@pytest.mark.skipif(HAS_GPU, reason="this machine has a GPU: the rows would run")
def test_gpu_rows_are_parametrized_and_skipped_with_a_reason(tiny_manifest):
    from convbench.benchmarks.suite import load_session

    manifest = load_manifest(tiny_manifest)
    cases = matrix.latency_cases(manifest, BenchOptions(device="all"))
    gpu = [c for c in cases if c.device == "gpu"]
    assert {c.runtime for c in gpu} == {"keras_eager", "tf_function", "tf_xla", "onnxruntime", "onnxruntime_trt"}
    assert all(c.threads is None for c in gpu)
    for case in (next(c for c in gpu if c.runtime == r) for r in ("keras_eager", "onnxruntime")):
        with pytest.raises(pytest.skip.Exception, match=r"gpu row: .*(GPU|NVML|nvidia)"):
            load_session(case)
    assert any(c.device == "gpu" for c in matrix.memory_cases(manifest, BenchOptions(device="gpu")))


def test_pytest_collects_the_matrix(tiny_manifest):
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:xdist", "-p", "no:cacheprovider", "--import-mode=importlib",
         "--collect-only", "-q", "--cb-manifest", str(tiny_manifest), "--cb-quick", "--cb-suites", "latency,audit",
         str(_suite_dir() / "test_latency.py"), str(_suite_dir() / "test_audit.py")],
        capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    ids = [line for line in out.stdout.splitlines() if "::" in line]
    assert "test_latency.py::test_latency[tiny-tflite_fp32-tflite_fp32-litert-cpu-b1-t1]" in "\n".join(ids)
    # TF rows run after all the others.
    kinds = ["keras_fp32" in i for i in ids]
    assert kinds == sorted(kinds) and any(kinds)
    bad = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--collect-only", "-q",
                          "--cb-manifest", str(tiny_manifest), "--cb-models", "nope",
                          str(_suite_dir() / "test_latency.py")], capture_output=True, text=True, timeout=120)
    assert bad.returncode != 0 and "unknown model" in bad.stdout + bad.stderr


def _suite_dir():
    from convbench.benchmarks import bench

    return bench.SUITE_DIR


# ---- end to end ----------------------------------------------------------------------------

def test_run_bench_end_to_end(tiny_manifest, tmp_path, capsys):
    out = tiny_manifest.parent
    options = BenchOptions(quick=True, runtimes=("litert",), batches=(1,), suites=("latency", "audit"),
                           out=out, storage=tmp_path / "storage")
    rc, run_dir = run_bench_with_folder(options)
    assert rc == 0
    bench_json = run_dir / "bench.json"
    doc = json.loads(bench_json.read_text())
    lat = [b for b in doc["benchmarks"] if b["extra_info"]["kind"] == "latency"]
    assert len(lat) == 2 and all(b["stats"]["data"] for b in lat)  # fp32 and int8-io TFLite
    info = lat[0]["extra_info"]
    for k in ("p50_ms", "p90_ms", "p99_ms", "iqr_ms", "throughput_items_per_s", "accuracy", "agreement_vs_fp32",
              "bytes", "gzip_bytes", "sparsity", "flops_per_image", "achieved_gflops", "fraction_of_peak",
              "load_ms", "first_inference_ms", "dataset_fingerprint", "audit_outputs_equal"):
        assert k in info, k
    assert info["audit_outputs_equal"] is True and info["dataset_fingerprint"] == doc["convbench"]["dataset"]["fingerprint"]
    assert doc["machine_info"]["convbench"]["sgemm_peak_gflops"]["1"] > 0
    assert doc["commit_info"] and doc["convbench"]["git"]["commit"]
    assert any("made up for the tests" in s["reason"] for s in doc["convbench"]["skipped"])
    audits = [b["extra_info"] for b in doc["benchmarks"] if b["extra_info"]["kind"] == "audit"]
    assert {a["metric"] for a in audits} == {"caching", "harness_overhead"}
    assert list((tmp_path / "storage").rglob("*.json"))  # --benchmark-autosave
    printed = capsys.readouterr().out
    assert "p50_ms" in printed and "tflite_int8_io" in printed and "headlines" in printed
    assert compare_medians(doc, doc)["max_abs_rel_diff"] == 0.0
    assert "tiny" in summarize(doc)


def test_one_memory_child_reports_each_batch_apart(tiny_manifest):
    from convbench.benchmarks.memory import measure_peak_rss_batches

    path = next(r["path"] for r in load_manifest(tiny_manifest).rows if r["variant"] == "tflite_fp32")
    b1, big = measure_peak_rss_batches("litert", path, (1, 256), threads=1)
    assert (b1.batch, big.batch) == (1, 256) and 0 < b1.baseline_rss_mib < b1.peak_rss_mib
    assert b1.peak_reset is None and big.peak_reset in (True, False)
    assert big.model_rss_mib == pytest.approx(big.peak_rss_mib - big.baseline_rss_mib)


def test_foreign_cpu_sees_another_process():
    from convbench.benchmarks.suite import ForeignCpu

    spin = subprocess.Popen([sys.executable, "-c", "import time\nt = time.time()\nwhile time.time() - t < 2: pass"])
    try:
        time.sleep(0.3)  # let it start
        with ForeignCpu() as busy:
            time.sleep(0.6)
    finally:
        spin.wait()
    # The spinning child takes one whole CPU (more load from elsewhere only adds to it).
    assert busy.fraction > 0.6 / len(os.sched_getaffinity(0))

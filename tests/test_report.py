"""The report on small synthetic runs built from the typed records (no TensorFlow, no training):
one data model rendered into report.md and report.html, the recommendation's budget, the notes'
contradiction logic, missing figure data stated, and bad run files named."""

from __future__ import annotations

import base64
import html
import io
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from convbench.errors import UserError
from convbench.records import (BENCH_SCHEMA, ArtifactRecord, BenchEntry, BenchFile, BenchRun, DatasetInfo, LatencyResult,
                               DeviceRoofs, LatencyStats, MachineInfo, Manifest, MemoryPhase, MemoryResult, OutputAudit,
                               PipelineResult, Recommendation, RoofMeasurement, RunRecord, RunRoofs, ScalingLatency,
                               TrainedRecord, Verification,
                               WeightStats, load_run, read_record, write_record)
from convbench.report import notes
from convbench.report.build import build_report
from convbench.report.columns import COLUMNS
from convbench.report.model import build_model, results_table
from convbench.report.recommend import recommend

M5, M4 = "lesson5_custom", "lesson4_strided"
FP32_ACCURACY = 0.98


def stats(p50_ms: float, batch: int = 1) -> LatencyStats:
    return LatencyStats.from_seconds([p50_ms / 1e3 * f for f in (0.98, 0.99, 1.0, 1.01, 1.02)], batch)


def lat(variant, p50_ms, accuracy=FP32_ACCURACY, *, model=M5, fmt=None, runtime="litert", batch=1, threads=1,
        device="cpu", fraction=None, note=None, cls=LatencyResult, **extra) -> LatencyResult:
    return cls(model=model, variant=variant, format=fmt or variant, runtime=runtime, device=device, batch=batch,
               threads=threads, stats=stats(p50_ms, batch), load_ms=1.0, first_inference_ms=2.0, rounds=5,
               warmup_calls=1, audit=OutputAudit(passed=True, checked=5, mismatched=0, max_abs_diff=0.0,
                                                 decision_changes=0),
               accuracy=accuracy, agreement_vs_fp32=accuracy, accuracy_images=100 if accuracy else 0,
               accuracy_note=note, achieved_gflops=None if fraction is None else fraction * 10, roof_gflops=10.0,
               roof_name="fp32 SGEMM 1 thread", fraction_of_roof=fraction, **extra)


def memory(variant, peak_mib, *, model=M5, runtime="litert") -> MemoryResult:
    return MemoryResult(model=model, variant=variant, format=variant, runtime=runtime, device="cpu", batch=1,
                        threads=1, baseline_rss_mib=50.0,
                        phases=[MemoryPhase(batch=1, peak_rss_mib=peak_mib, model_rss_mib=peak_mib - 50),
                                MemoryPhase(batch=8, peak_rss_mib=peak_mib + 5, model_rss_mib=peak_mib - 45)])


def pipeline(name, images_per_s) -> PipelineResult:
    epoch = LatencyStats.from_seconds([256 / images_per_s] * 3, 256)
    return PipelineResult(pipeline=name, consumer_ms=0.0, batch=32, dataset="digits", images_per_epoch=256,
                          epoch=epoch, parallel_map=name != "naive", cache=name != "naive", prefetch=name != "naive",
                          map_work="normalize")


def artifact(variant, size, accuracy=FP32_ACCURACY, *, model=M5, fmt=None, sparsity=0.0, **extra) -> ArtifactRecord:
    return ArtifactRecord(model=model, variant=variant, format=fmt or variant, technique="ptq", bytes=size,
                          gzip_bytes=size // 2, weights=WeightStats(params=100, nonzero_params=round(100 * (1 - sparsity)),
                                                                    unique_values_per_layer={}),
                          verification=Verification(runtime="litert", device="cpu", threads=1, images=100,
                                                    accuracy=accuracy, agreement_vs_fp32=1.0,
                                                    max_abs_diff_vs_fp32=0.0), **extra)


def trained(name) -> TrainedRecord:
    return TrainedRecord(name=name, lesson="5", fingerprint="t" * 16, test_accuracy=FP32_ACCURACY, params=100,
                         trainable_params=100, flops_per_image=1000, flops_method="analytic", train_seconds=1.0,
                         epochs=2, batch_size=32, learning_rate=1e-3, seed=0, folder=f"models/{name}",
                         history={"accuracy": [0.8, 0.97], "val_accuracy": [0.75, 0.96]})


def run_of(results, artifacts=(), models=(M5,), folder=Path("run"), gpu_skips=(), **machine) -> BenchRun:
    """A BenchRun in memory (for the notes and the recommendation)."""
    roofs = RunRoofs(at_start=[DeviceRoofs(device="cpu", name="Test CPU", usable_cores=2, measurements=[
        RoofMeasurement(precision="fp32", method="test GEMM", threads=1, ops=10**10, seconds=1.0, runs=1)])])
    record = RunRecord(started="2026-01-01T00:00:00", dataset_fingerprint="d" * 64, roofs=roofs, git_commit="abc123",
                       machine=MachineInfo(cpu_model="Test CPU", logical_cores=2, usable_cores=2, physical_cores=1,
                                           ram_gib=4.0, cpu_flags=machine.get("cpu_flags", {"avx2": True})))
    manifest = Manifest(created="2026-01-01T00:00:00", trained=[trained(m) for m in models], artifacts=list(artifacts),
                        dataset=DatasetInfo(name="digits", fingerprint="d" * 64, class_names=["a", "b"],
                                            input_shape=[8, 8, 1], split_sizes={"test": 100}, normalization={}))
    return BenchRun(folder, folder / "bench.json", record, list(results),
                    {r.key: [0.001] * 5 for r in results}, manifest)


def write_run(folder: Path, run: BenchRun, illustrations=(M5,)) -> Path:
    """The same run as files: bench.json, the manifest snapshot and the lesson arrays."""
    folder.mkdir(parents=True)
    entries = [BenchEntry(name=f"test_{r.kind}[{i}]", stats={"median": 0.001, "data": run.samples_s[r.key]},
                          extra_info=r) for i, r in enumerate(run.results)]
    write_record(folder / "bench.json", BenchFile(convbench=run.record, benchmarks=entries))
    write_record(folder / "manifest.json", run.manifest)
    for model in illustrations:
        rng = np.random.default_rng(0)
        maps = {k: rng.random(shape, dtype=np.float32) for k, shape in (
            ("image", (8, 8, 1)), ("kernels", (3, 3, 1, 4)), ("conv", (8, 8, 4)), ("relu", (8, 8, 4)),
            ("pool", (4, 4, 4)), ("stride_1_same", (8, 8)), ("stride_2_same", (4, 4)),
            ("stride_2_valid", (3, 3)), ("stride_3_valid", (2, 2)))}
        (folder / "illustrations").mkdir(exist_ok=True)
        np.savez(folder / "illustrations" / f"{model}.npz", class_name=np.array("car"), **maps)
    return folder


def full_run() -> BenchRun:
    rows = [lat("keras_fp32", 2.0, fmt="keras", runtime="keras_eager", threads=None),
            lat("tflite_fp32", 0.20, fraction=0.3), lat("tflite_fp32", 0.12, threads=2, fraction=0.25),
            lat("tflite_fp32", 0.05, batch=8, fraction=0.6),
            lat("tflite_int8", 0.10, 0.975), lat("tflite_fp32", 0.50, runtime="litert_noxnnpack"),
            lat("pruned_80", 0.09, 0.97, fmt="tflite_int8"),
            lat("onnx_fp32", 0.3, None, runtime="onnxruntime", note="ORT session could not run the split"),
            lat("tflite_fp32", 0.01, None, runtime="null"),
            lat("tflite_fp32", 0.4, 0.9, model=M4), lat("tflite_int8", 0.3, 0.5, model=M4),
            memory("tflite_fp32", 100.0), memory("tflite_int8", 90.0),
            pipeline("naive", 1000.0), pipeline("parallel_cache_prefetch", 4000.0),
            *(lat(f"random_{side}x{side}x1", side / 100, None, fmt="tflite_fp32", cls=ScalingLatency, side=side,
                  input_shape=[side, side, 1], params=100, bytes=400) for side in (28, 64))]
    arts = [artifact("tflite_fp32", 4000), artifact("tflite_int8", 1100, 0.975),
            artifact("pruned_80", 300, 0.97, fmt="tflite_int8", sparsity=0.8),
            artifact("tflite_fp32", 4000, model=M4), artifact("tflite_int8", 1000, 0.5, model=M4)]
    return run_of(rows, arts, models=(M5, M4))


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> tuple[Path, BenchRun]:
    folder = write_run(tmp_path_factory.mktemp("runs") / "full", full_run())
    build_report(folder)
    return folder, load_run(folder)


def test_markdown_and_html_render_the_same_data_model(built):
    folder, run = built
    md, page = (folder / "report.md").read_text(), (folder / "report.html").read_text()
    text = html.unescape(re.sub(r"<[^>]+>", " ", page))
    report = build_model(run)
    expected = [report.title, *report.recommendation_lines, *(s.model for s in report.models),
                *(n.title for n in report.notes), *(x for n in report.notes for x in n.findings + n.contradicted),
                *(c.text for s in report.models for row in s.table.rows for c in row), *(f.caption for f in report.figures)]
    for s in expected:
        assert s in md and s in text, s
    assert "| " + " | ".join(c.header for c in COLUMNS) + " |" in md   # the columns are defined once
    assert text.count("not measured") >= 1 and "ORT session could not run the split" in md


def test_html_is_self_contained_and_figures_decode(built):
    from PIL import Image

    folder, _ = built
    page = (folder / "report.html").read_text()
    assert "http://" not in page and "https://" not in page and "table class='sortable'" in page
    images = re.findall(r"src='data:image/png;base64,([^']+)'", page)
    linked = re.findall(r"\]\(figures/([\w-]+)\.png\)", (folder / "report.md").read_text())
    assert len(images) == len(linked) >= 10   # every drawn figure in both outputs
    assert {"kernels_lesson5_custom", "feature_maps", "stride", "scaling_side", "pipeline"} <= set(linked)
    for data in images:
        with Image.open(io.BytesIO(base64.b64decode(data))) as img:
            img.verify()
    for name in linked:
        assert (folder / "figures" / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_report_imports_no_tensorflow(built, tmp_path):
    folder, _ = built
    code = ("import sys; from convbench.report.build import build_report; build_report(sys.argv[1]); "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'tf_keras', 'keras')))")
    out = subprocess.run([sys.executable, "-c", code, str(folder)], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_recommendation_json_is_the_typed_record(built):
    folder, _ = built
    rec = read_record(folder / "recommendation.json", Recommendation)
    fastest = rec.devices["cpu"][M5].fastest
    # pruned_80 (0.97, exactly 1 pp under fp32) is within the 1 pp budget; the null runtime's row is never picked
    assert (fastest.variant, fastest.runtime, fastest.accuracy_drop_pp) == ("pruned_80", "litert", 1.0)
    assert rec.devices["cpu"][M5].smallest.bytes == 300
    assert "no batch-1 row" in rec.not_recommended["cpu"][M4]   # its rows measured 90 % and 50 %
    assert json.loads((folder / "recommendation.json").read_text())["devices"]["cpu"][M5]["fastest"]["p50_ms"] > 0


def test_a_drop_of_exactly_the_budget_is_within_it():
    assert (0.98 - 0.97) * 100 == pytest.approx(1.0) and (0.98 - 0.97) * 100 > 1.0   # the float trap
    rows = [lat("fast_but_bad", 0.1, 0.90), lat("int8", 0.3, 0.97), lat("fp32", 0.4, 0.98),
            lat("unmeasured_fastest", 0.01, None)]
    arts = [artifact("fast_but_bad", 50), artifact("int8", 100), artifact("fp32", 400), artifact("unmeasured_fastest", 1)]
    rec = recommend(run_of(rows, arts), budget_pp=1.0).devices["cpu"][M5]
    assert rec.fastest.variant == "int8" and rec.smallest.variant == "int8"
    assert recommend(run_of(rows, arts), budget_pp=10.0).devices["cpu"][M5].fastest.variant == "fast_but_bad"
    assert recommend(run_of([lat("int8", 0.3, 0.9699)]), 1.0).not_recommended["cpu"][M5].startswith("no batch-1")
    assert recommend(run_of([lat("x", 0.3, None)]), 1.0).not_recommended["cpu"][M5] == "no row measured accuracy"
    with pytest.raises(UserError, match="--accuracy-budget"):
        recommend(run_of(rows), float("nan"))


def test_columns_read_sizes_from_the_artifact_and_accuracy_from_the_row():
    run = run_of([lat("keras_fp32", 2.0, fmt="keras", runtime="keras_eager", threads=None),
                  lat("pruned_80", 0.5, 0.97, fmt="tflite_int8"), lat("tflite_fp32", 1.0, None, note="skipped")],
                 [artifact("pruned_80", 300, 0.5, fmt="tflite_int8", sparsity=0.8)])
    table = results_table(run, M5)
    col = {c.header: i for i, c in enumerate(COLUMNS)}
    by_variant = {row[col["variant"]].text: row for row in table.rows}
    pruned, dense = by_variant["pruned_80"], by_variant["tflite_fp32"]
    assert [pruned[col[h]].text for h in ("bytes", "gzip bytes", "sparsity %", "accuracy %", "Δ vs fp32 pp")] == \
        ["300", "150", "80", "97", "-1.00"]   # 97 % measured by the row, not the file's 50 %
    assert pruned[col["speed-up vs keras_eager"]].text == "4" and pruned[col["p50 ms"]].sort == "0.5"
    assert [dense[col[h]].text for h in ("accuracy %", "Δ vs fp32 pp", "bytes")] == ["not measured", "–", "–"]
    assert by_variant["keras_fp32"][col["threads"]].text == "auto"


def test_int8_speed_decides_the_contradiction():
    def hardware(int8_ms, **machine):
        return notes.hardware_optimization(run_of([lat("tflite_fp32", 0.2), lat("tflite_int8", int8_ms)], **machine))

    fast = hardware(0.1)   # 2x the speed of fp32: the claim holds
    assert not fast.contradicted and "int8 2.00x the speed of fp32" in fast.findings[0]
    slow = hardware(0.2 / 0.9)
    assert slow.contradicted == [f"{M5}: int8 is not 2-4x faster (0.90x); this CPU has no VNNI int8 dot-product "
                                 "instructions."]
    assert hardware(0.2 / 0.9, cpu_flags={"avx512_vnni": True}).contradicted[0].endswith("(0.90x).")
    assert "accuracy measured by these rows: int8 98.0%" in fast.findings[0]


def test_thread_and_pruning_findings():
    note = notes.hardware_optimization(run_of([lat("tflite_fp32", 0.2), lat("tflite_fp32", 0.125, threads=2),
                                               lat("pruned_80", 0.2, 0.97, fmt="tflite_fp32")]))
    assert f"{M5}: LiteRT fp32 2 threads 1.60x the speed of 1 thread." in note.findings
    assert any("pruned_80 fp32 runs 1.00x" in f and "97.0%" in f for f in note.findings)
    assert note.contradicted == [f"{M5}: 80 % sparsity gives little or no speed-up (1.00x, not ~5x): dense kernels "
                                 "still multiply the zeros."]
    faster = notes.hardware_optimization(run_of([lat("tflite_fp32", 0.2), lat("pruned_80", 0.05, fmt="tflite_fp32")]))
    assert not faster.contradicted and any("4.00x" in f for f in faster.findings)


def test_roof_sentence_only_when_a_row_exceeds_it():
    def accel(*fractions):
        rows = [lat("tflite_fp32", 1.0 / (i + 1), batch=2 ** i, fraction=f) for i, f in enumerate(fractions)]
        return notes.accelerator_utilization(run_of(rows))

    grows = accel(0.2, 0.5)
    assert not grows.contradicted and "20% of fp32 SGEMM 1 thread" in grows.findings[1]
    over = accel(0.5, 1.3)
    assert over.contradicted == [f"1 row(s) exceed 100 % of their roof (highest: {M5}/tflite_fp32/tflite_fp32 litert "
                                 "cpu b2 t1 at 130% of fp32 SGEMM 1 thread): for them the roof is not an upper bound, "
                                 "so their '% of roof' is not a utilization."]
    assert accel(0.5, 0.52).contradicted == [f"{M5}: batching did not raise utilization by more than 10 %."]


def test_file_and_memory_and_pipeline_notes():
    arts = [artifact("tflite_fp32", 4000), artifact("tflite_int8", 1000, 0.97)]
    compression = notes.model_compression(run_of([], arts))
    assert "verified on litert at build time" in compression.findings[0] and not compression.contradicted
    arts[1] = artifact("tflite_int8", 1000, 0.9699)
    assert "loses 1.0 pp" in notes.model_compression(run_of([], arts)).contradicted[0]
    mem = notes.memory_optimization(run_of([memory("tflite_fp32", 100.0), memory("tflite_int8", 90.0)]))
    assert mem.contradicted == [f"{M5} on litert: int8 cuts process peak memory by only 10%: the runtime itself dominates."]
    assert not notes.memory_optimization(run_of([memory("tflite_fp32", 100.0), memory("tflite_int8", 45.0)])).contradicted
    assert notes.data_pipeline(run_of([pipeline("naive", 1000.0), pipeline("cache", 1200.0)])).contradicted
    assert not notes.data_pipeline(run_of([pipeline("naive", 1000.0), pipeline("cache", 3000.0)])).contradicted
    tuned = notes.model_parameter_optimization(run_of([], [artifact("pruned_80", 10, 0.97, finetune_seconds=3.0)]))
    assert not tuned.contradicted and "build-time verified" in tuned.findings[-1]


def test_missing_figure_data_is_stated(tmp_path):
    folder = write_run(tmp_path / "bare", run_of([lat("tflite_fp32", 0.2, None)]), illustrations=())
    page = html.unescape(build_report(folder).read_text())
    md = (folder / "report.md").read_text()
    for line in ("Latency vs input side: not drawn — no scaling rows in this run.",
                 ("Lessons 2-3: filter (convolution), detect (ReLU), condense (max pool): not drawn — no lesson "
                  "illustration data in the run folder (illustrations/lesson5_custom.npz"),
                 ("Latency vs accuracy on cpu (accuracy measured by each row), Pareto frontier dashed: not drawn — "
                  "no batch-1 latency row on cpu measured accuracy.")):
        assert line in md and line in page
    assert "figures/scaling_side.png" not in md and not (folder / "figures" / "scaling_side.png").exists()
    assert "cpu / lesson5_custom: none recommended: no row measured accuracy" in md


def test_bad_run_files_are_one_user_error_naming_the_file(tmp_path):
    good = write_run(tmp_path / "good", run_of([lat("tflite_fp32", 0.2)]))
    cases = {"nope": None, "not_json": "{ not json", "foreign": json.dumps({"benchmarks": [{"name": "x"}]}),
             "old_schema": (good / "bench.json").read_text().replace(BENCH_SCHEMA, "convbench.bench/1")}
    for name, text in cases.items():
        folder = tmp_path / name
        if text is not None:
            folder.mkdir()
            (folder / "bench.json").write_text(text)
        with pytest.raises(UserError) as err:
            build_report(folder)
        assert str(folder) in str(err.value) and "\n" not in str(err.value), name
    (good / "manifest.json").write_text("[]")
    with pytest.raises(UserError, match=re.escape(str(good / "manifest.json"))):
        build_report(good)


def test_corrupt_illustration_is_named(tmp_path):
    folder = write_run(tmp_path / "run", run_of([lat("tflite_fp32", 0.2)]), illustrations=())
    (folder / "illustrations").mkdir()
    (folder / "illustrations" / f"{M5}.npz").write_bytes(b"not a zip")
    with pytest.raises(UserError, match=re.escape(str(folder / "illustrations" / f"{M5}.npz"))):
        build_report(folder)

"""Small synthetic runs built from the typed records (no TensorFlow, no training), shared by the
report's tests: rows, artifacts and a whole run in memory (`run_of`, `full_run`); factories.write_run
writes one as files."""

from __future__ import annotations

from pathlib import Path

from convbench.core.records import (ArtifactRecord, BenchRun, DatasetInfo, DeviceRoofs, LatencyResult, LatencyStats,
                                    MachineInfo, Manifest, MemoryPhase, MemoryResult, OutputAudit, PipelineResult,
                                    RoofMeasurement, RunRecord, RunRoofs, ScalingLatency, TrainedRecord, Verification,
                                    WeightStats)

M5, M4 = "lesson5_custom", "lesson4_strided"
FP32_ACCURACY = 0.98


SPREAD = (0.98, 0.99, 1.0, 1.01, 1.02)  # a row's five rounds around its median


def rounds_s(p50_ms: float) -> list[float]:
    return [p50_ms / 1e3 * f for f in SPREAD]


def stats(p50_ms: float, batch: int = 1) -> LatencyStats:
    return LatencyStats.from_seconds(rounds_s(p50_ms), batch)


def lat(variant, p50_ms, accuracy=FP32_ACCURACY, *, model=M5, fmt=None, runtime="litert", batch=1, threads=1,
        device="cpu", fraction=None, note=None, cls=LatencyResult, lost=None, gained=None, **extra) -> LatencyResult:
    """A latency row; `lost`/`gained`: its discordant images against fp32 (None: not recorded)."""
    return cls(model=model, variant=variant, format=fmt or variant, runtime=runtime, device=device, batch=batch,
               threads=threads, stats=stats(p50_ms, batch), load_ms=1.0, first_inference_ms=2.0, rounds=5,
               warmup_calls=1, audit=OutputAudit(passed=True, checked=5, mismatched=0, max_abs_diff=0.0,
                                                 decision_changes=0),
               accuracy=accuracy, agreement_vs_fp32=accuracy, accuracy_images=1000 if accuracy else 0,
               accuracy_note=note, achieved_gflops=None if fraction is None else fraction * 10, roof_gflops=10.0,
               roof_name="fp32 SGEMM 1 thread", fraction_of_roof=fraction, lost_vs_fp32_images=lost,
               gained_vs_fp32_images=gained, **extra)


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


def artifact(variant, size, accuracy=FP32_ACCURACY, *, model=M5, fmt=None, sparsity=0.0, technique=None,
             gzip_bytes=None, **extra) -> ArtifactRecord:
    """A file of the manifest; its technique "none" (a plain conversion) where the variant is
    named after its format, else "prune" unless given."""
    technique = technique or ("none" if fmt in (None, variant) else "prune")
    return ArtifactRecord(model=model, variant=variant, format=fmt or variant, technique=technique, bytes=size,
                          gzip_bytes=size // 2 if gzip_bytes is None else gzip_bytes,
                          weights=WeightStats(params=100, nonzero_params=round(100 * (1 - sparsity)),
                                                                    unique_values_per_layer={}),
                          verification=Verification(runtime="litert", device="cpu", threads=1, images=100,
                                                    accuracy=accuracy, agreement_vs_fp32=1.0,
                                                    max_abs_diff_vs_fp32=0.0), **extra)


def trained(name) -> TrainedRecord:
    return TrainedRecord(name=name, lesson="5", fingerprint="t" * 16, test_accuracy=FP32_ACCURACY, params=100,
                         trainable_params=100, flops_per_image=1000, flops_method="analytic", train_seconds=1.0,
                         epochs=2, batch_size=32, learning_rate=1e-3, seed=0, folder=f"models/{name}",
                         history={"accuracy": [0.8, 0.97], "val_accuracy": [0.75, 0.96]})


def run_of(results, artifacts=(), models=(M5,), folder=Path("run"), gpu_skips=(), roofs: RunRoofs | None = None,
           **machine) -> BenchRun:
    """A BenchRun in memory (for the notes, the recommendation and the roofline part); roofs
    default to one fp32 probe at 10 Gop/s."""
    roofs = roofs or RunRoofs(at_start=[DeviceRoofs(device="cpu", name="Test CPU", usable_cores=2, measurements=[
        RoofMeasurement(precision="fp32", method="test GEMM", threads=1, ops=10**10, seconds=1.0, runs=1)])])
    record = RunRecord(started="2026-01-01T00:00:00", dataset_fingerprint="d" * 64, roofs=roofs, git_commit="abc123",
                       machine=MachineInfo(cpu_model="Test CPU", logical_cores=2, usable_cores=2, physical_cores=1,
                                           ram_gib=4.0, cpu_flags=machine.get("cpu_flags", {"avx2": True})))
    manifest = Manifest(created="2026-01-01T00:00:00", trained=[trained(m) for m in models], artifacts=list(artifacts),
                        dataset=DatasetInfo(name="digits", fingerprint="d" * 64, class_names=["a", "b"],
                                            input_shape=[8, 8, 1], split_sizes={"test": 100}, normalization={}))
    return BenchRun(folder, folder / "bench.json", record, list(results),
                    {r.key: rounds_s(r.stats.p50_ms) if hasattr(r, "stats") else [0.001] * 5 for r in results},
                    manifest)


def full_run() -> BenchRun:
    rows = [lat("keras_fp32", 2.0, fmt="keras", runtime="keras_eager", threads=None),
            lat("tflite_fp32", 0.20, fraction=0.3), lat("tflite_fp32", 0.12, threads=2, fraction=0.25),
            lat("tflite_fp32", 0.05, batch=8, fraction=0.6),
            lat("tflite_int8", 0.10, 0.975, lost=7, gained=2), lat("tflite_fp32", 0.50, runtime="litert_noxnnpack"),
            lat("pruned_80", 0.09, 0.97, fmt="tflite_int8", lost=12, gained=2),
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

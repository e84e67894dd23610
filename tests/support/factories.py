"""Synthetic runs written from the typed records (so test data cannot drift from the schema):
latency and memory rows with chosen raw samples, on a chosen machine and commit, and the one
writer of a run folder (`write_run`), for these bench entries or for a run built in memory by
reportdata.run_of."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from convbench.core.records import (BenchEntry, BenchFile, BenchRun, LatencyResult, LatencyStats, MachineInfo,
                                    MemoryPhase, MemoryResult, OutputAudit, RunRecord, write_record)


def latency_bench(key, samples_s, accuracy=0.95, sha256=None, fraction_of_roof=None, roof_gflops=None,
                  roof_precision=None, repeat_p50_ms=()) -> BenchEntry:
    model, variant, fmt, runtime, device, batch, threads = key
    result = LatencyResult(
        model=model, variant=variant, format=fmt, runtime=runtime, device=device, batch=batch, threads=threads,
        sha256=sha256, fraction_of_roof=fraction_of_roof, roof_gflops=roof_gflops, roof_precision=roof_precision,
        stats=LatencyStats.from_seconds(samples_s, batch), load_ms=1.0, first_inference_ms=1.0, rounds=len(samples_s),
        warmup_calls=1, audit=OutputAudit(passed=True, checked=1, mismatched=0, max_abs_diff=0.0, decision_changes=0),
        accuracy=accuracy, accuracy_note=None if accuracy is not None else "session could not run the split",
        repeat_p50_ms=list(repeat_p50_ms))
    return BenchEntry(name=f"test_latency[{result.label}]",
                      stats={"median": float(np.median(samples_s)), "data": [float(x) for x in samples_s]},
                      extra_info=result)


def memory_bench(model="lesson5_custom", peak_rss_mib=300.0) -> BenchEntry:
    result = MemoryResult(model=model, variant="tflite_fp32", format="tflite_fp32", runtime="litert", device="cpu",
                          batch=1, threads=1, baseline_rss_mib=50.0,
                          phases=[MemoryPhase(batch=1, peak_rss_mib=peak_rss_mib, model_rss_mib=peak_rss_mib - 50)])
    return BenchEntry(name=f"test_memory[{model}]", stats={"median": 0.1, "data": [0.1]}, extra_info=result)


def bench_file(benchmarks, cpu="Test CPU", fingerprint="d" * 64, started="2026-01-01T00:00:00", git_commit=None,
               cpu_flags=None, cpu_id=None) -> BenchFile:
    machine = MachineInfo(cpu_model=cpu, logical_cores=2, usable_cores=2, physical_cores=1, ram_gib=4.0,
                          cpu_flags=cpu_flags or {}, cpu_id=cpu_id)
    record = RunRecord(started=started, dataset_fingerprint=fingerprint, machine=machine, git_commit=git_commit)
    return BenchFile(convbench=record, benchmarks=benchmarks, datetime=started, version="5.1.0")


def write_run(folder: Path, benchmarks: list[BenchEntry] | BenchRun, illustrations=(), **record) -> Path:
    """A run folder as `convbench bench` publishes it. From bench entries: bench.json, with the run
    record `bench_file(**record)` makes. From a BenchRun: bench.json with its record and rows, and
    its manifest snapshot. Either way, lesson-illustration arrays for the models in `illustrations`."""
    folder.mkdir(parents=True)
    if isinstance(benchmarks, BenchRun):
        if record:
            raise TypeError(f"a BenchRun brings its own run record: {sorted(record)} not used")
        run = benchmarks
        entries = [BenchEntry(name=f"test_{r.kind}[{i}]", stats={"median": 0.001, "data": run.samples_s[r.key]},
                              extra_info=r) for i, r in enumerate(run.results)]
        write_record(folder / "bench.json", BenchFile(convbench=run.record, benchmarks=entries))
        write_record(folder / "manifest.json", run.manifest)
    else:
        write_record(folder / "bench.json", bench_file(benchmarks, **record))
    for model in illustrations:
        rng = np.random.default_rng(0)
        maps = {k: rng.random(shape, dtype=np.float32) for k, shape in (
            ("image", (8, 8, 1)), ("kernels", (3, 3, 1, 4)), ("conv", (8, 8, 4)), ("relu", (8, 8, 4)),
            ("pool", (4, 4, 4)), ("stride_1_same", (8, 8)), ("stride_2_same", (4, 4)),
            ("stride_2_valid", (3, 3)), ("stride_3_valid", (2, 2)))}
        (folder / "illustrations").mkdir(exist_ok=True)
        np.savez(folder / "illustrations" / f"{model}.npz", class_name=np.array("car"), **maps)
    return folder


def samples(seed, median_ms, spread_ms, n=40):
    return np.random.default_rng(seed).normal(median_ms, spread_ms, n).clip(1e-3) / 1e3



"""The six optimization notes, written from this run's measurements: each states the
textbook claim, what was measured, and says plainly where the measurement contradicts it."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field

from convbench.report.results import Run


@dataclass
class Note:
    title: str
    claim: str
    findings: list[str] = field(default_factory=list)
    contradicted: list[str] = field(default_factory=list)


def _lat(rows, **match) -> dict | None:
    found = [r for r in rows if all(r.get(k) == v for k, v in match.items())]
    return min(found, key=lambda r: r["p50_ms"]) if found else None


def _models(rows) -> list[str]:
    return sorted({r["model"] for r in rows})


def model_compression(run: Run) -> Note:
    note = Note("Model compression",
                "Post-training int8 quantization makes a model ~4x smaller at <1 pp accuracy cost; "
                "pruning + quantization reach ~10x on compressed (gzip) size (TFMOT's MNIST guides).")
    arts = [a for a in (run.manifest or {}).get("artifacts", []) if not a.get("error")]
    for model in _models(arts):
        get = {(a["variant"], a["format"]): a for a in arts if a["model"] == model}
        fp32, int8 = get.get(("tflite_fp32", "tflite_fp32")), get.get(("tflite_int8", "tflite_int8"))
        if fp32 and int8:
            ratio = fp32["bytes"] / int8["bytes"]
            drop = (fp32["accuracy"] - int8["accuracy"]) * 100
            note.findings.append(f"{model}: tflite_int8 is {ratio:.2f}x smaller than fp32 "
                                 f"({int8['bytes'] / 1024:.0f} vs {fp32['bytes'] / 1024:.0f} KiB), accuracy change {-drop:+.1f} pp.")
            if ratio < 3.5 or drop > 1.0:
                note.contradicted.append(f"{model}: int8 gives {ratio:.2f}x and loses {drop:.1f} pp — outside the claim.")
        p80 = get.get(("pruned_80", "tflite_int8"))
        if fp32 and p80:
            ratio = fp32["gzip_bytes"] / p80["gzip_bytes"]
            note.findings.append(f"{model}: pruned_80 int8 gzip is {ratio:.1f}x smaller than fp32 gzip, sparsity "
                                 f"{p80['sparsity']:.0%} measured in the file, accuracy {(p80['accuracy'] - fp32['accuracy']) * 100:+.1f} pp.")
            if ratio < 8:
                note.contradicted.append(f"{model}: pruning + int8 compresses only {ratio:.1f}x (sparsity {p80['sparsity']:.0%}).")
        p80_fp32 = get.get(("pruned_80", "tflite_fp32"))
        if fp32 and p80_fp32 and p80_fp32["bytes"] >= fp32["bytes"] * 0.95:
            note.findings.append(f"{model}: the pruned fp32 .tflite is as large as the dense one "
                                 f"({p80_fp32['bytes'] / 1024:.0f} KiB): zeros are stored; only compression (gzip) sees them.")
    return note


def memory_optimization(run: Run) -> Note:
    note = Note("Memory optimization",
                "A 4x smaller (int8) model needs correspondingly less memory to run.")
    mem = run.of("memory")
    for model in _models(mem):
        for runtime in sorted({r["runtime"] for r in mem if r["model"] == model}):
            mine = {r["format"]: r for r in mem if r["model"] == model and r["runtime"] == runtime}
            fp32 = next((r for f, r in mine.items() if f.endswith("fp32")), None)
            int8 = next((r for f, r in mine.items() if "int8" in f or "qdq" in f), None)
            if fp32 and int8:
                note.findings.append(
                    f"{model} on {runtime}: model memory above the runtime's own import "
                    f"{fp32['b1_model_rss_mib']:.1f} MiB fp32 vs {int8['b1_model_rss_mib']:.1f} MiB int8 at batch 1; "
                    f"whole process {fp32['b1_peak_rss_mib']:.0f} vs {int8['b1_peak_rss_mib']:.0f} MiB "
                    f"(import alone: {fp32['baseline_rss_mib']:.0f} MiB).")
                if int8["b1_peak_rss_mib"] > 0.5 * fp32["b1_peak_rss_mib"]:
                    note.contradicted.append(
                        f"{model} on {runtime}: int8 cuts process peak memory by only "
                        f"{1 - int8['b1_peak_rss_mib'] / fp32['b1_peak_rss_mib']:.0%}: the runtime itself dominates.")
    baselines = {r["runtime"]: r["baseline_rss_mib"] for r in mem}
    if baselines:
        note.findings.append("Import-only peak RSS per runtime: " +
                             ", ".join(f"{k} {v:.0f} MiB" for k, v in sorted(baselines.items())) + ".")
    return note


def accelerator_utilization(run: Run) -> Note:
    note = Note("Accelerator utilization",
                "Larger batches keep the hardware busy: throughput and the fraction of peak FLOP/s grow with batch size.")
    lat = [r for r in run.of("latency") if r.get("fraction_of_peak") is not None and r["runtime"] != "null"]
    peak = run.session.get("sgemm_peak_gflops", {})
    if peak:
        note.findings.append("Measured SGEMM peak (numpy BLAS, 1024^3): " +
                             ", ".join(f"{t} thread(s) {g:.1f} GFLOP/s" for t, g in sorted(peak.items())) + ".")
    for model in _models(lat):
        mine = [r for r in lat if r["model"] == model]
        b1 = max((r for r in mine if r["batch"] == 1), key=lambda r: r["fraction_of_peak"], default=None)
        best = max(mine, key=lambda r: r["fraction_of_peak"])
        if b1:
            note.findings.append(
                f"{model}: best batch-1 row reaches {b1['achieved_gflops']:.1f} GFLOP/s ({b1['fraction_of_peak']:.0%} of peak, "
                f"{b1['variant']}/{b1['runtime']}); best overall {best['achieved_gflops']:.1f} GFLOP/s "
                f"({best['fraction_of_peak']:.0%}) at batch {best['batch']} ({best['variant']}/{best['runtime']}, t{best['threads']}).")
            if best["batch"] == 1 or best["fraction_of_peak"] < b1["fraction_of_peak"] * 1.1:
                note.contradicted.append(f"{model}: batching did not raise utilization by more than 10 %.")
    if lat and max(r["fraction_of_peak"] for r in lat) > 1.0:
        note.contradicted.append(
            "Some rows exceed 100 % of the 'peak': numpy's OpenBLAS SGEMM is a lower bound of this CPU's peak "
            "(ONNX Runtime's MLAS kernels outrun it), and the analytic FLOP count includes the zero-padded "
            "border positions of 'same' convolutions that direct convolution kernels skip.")
    gpu_skips = [s for s in run.session.get("skipped", []) if "gpu" in str(s).lower()]
    machine = run.session.get("machine", {})
    if not machine.get("gpu_name"):
        note.findings.append("No GPU on this machine: GPU rows were skipped" +
                             (f" ({len(gpu_skips)} rows, reason: {gpu_skips[0]})" if gpu_skips else "") + ".")
    return note


def hardware_optimization(run: Run) -> Note:
    note = Note("Hardware optimization (threads, XNNPACK, graph optimization, int8 kernels)",
                "int8 kernels run 2-4x faster than fp32 on CPUs; XNNPACK and ORT's full graph optimization "
                "speed inference up; two threads approach 2x; sparsity speeds up pruned models.")
    lat = [r for r in run.of("latency") if r["device"] == "cpu" and r["batch"] == 1]
    flags = run.session.get("machine", {}).get("cpu_flags", {})
    vnni = any(flags.get(k) for k in ("avx512_vnni", "avx_vnni", "amx_int8"))
    for model in _models(lat):
        rows = [r for r in lat if r["model"] == model]
        f32 = _lat(rows, variant="tflite_fp32", runtime="litert", threads=1)
        i8 = _lat(rows, variant="tflite_int8", runtime="litert", threads=1)
        if f32 and i8:
            ratio = f32["p50_ms"] / i8["p50_ms"]
            note.findings.append(f"{model}: LiteRT int8 {i8['p50_ms'] * 1e3:.0f} µs vs fp32 {f32['p50_ms'] * 1e3:.0f} µs "
                                 f"(int8 {ratio:.2f}x the speed of fp32), 1 thread, batch 1.")
            if ratio < 1.5:
                note.contradicted.append(f"{model}: int8 is not 2-4x faster ({ratio:.2f}x)"
                                         + ("; this CPU has no VNNI int8 dot-product instructions." if not vnni else "."))
        off = _lat(rows, variant="tflite_fp32", runtime="litert_noxnnpack", threads=1)
        if f32 and off:
            note.findings.append(f"{model}: XNNPACK on {f32['p50_ms'] * 1e3:.0f} µs vs off {off['p50_ms'] * 1e3:.0f} µs "
                                 f"({off['p50_ms'] / f32['p50_ms']:.2f}x).")
        t2 = _lat(rows, variant="tflite_fp32", runtime="litert", threads=2)
        if f32 and t2:
            note.findings.append(f"{model}: LiteRT fp32 2 threads {f32['p50_ms'] / t2['p50_ms']:.2f}x the speed of 1 thread.")
        full = _lat(rows, variant="onnx_fp32", runtime="onnxruntime", threads=1)
        basic = _lat(rows, variant="onnx_fp32", runtime="onnxruntime_basic", threads=1)
        if full and basic:
            note.findings.append(f"{model}: ORT graph optimization 'all' {full['p50_ms'] * 1e3:.0f} µs vs 'basic' "
                                 f"{basic['p50_ms'] * 1e3:.0f} µs.")
        pruned = _lat(rows, variant="pruned_80", format="tflite_fp32", runtime="litert", threads=1)
        if f32 and pruned:
            gain = f32["p50_ms"] / pruned["p50_ms"]
            note.findings.append(f"{model}: pruned_80 fp32 runs {gain:.2f}x the speed of dense fp32.")
            if gain < 1.2:
                note.contradicted.append(f"{model}: 80 % sparsity gives little or no speed-up ({gain:.2f}x, not ~5x): "
                                         "dense kernels still multiply the zeros.")
    return note


def data_pipeline(run: Run) -> Note:
    note = Note("Data-pipeline optimization",
                "cache(), prefetch() and parallel map (AUTOTUNE) keep the model fed; the optimized tf.data pipeline is several times faster than the naive one.")
    rows = [r for r in run.of("pipeline") if r.get("images_per_s")]
    by_variant = {}
    for r in rows:
        by_variant.setdefault(r["variant"], []).append(r)
    for variant, rs in sorted(by_variant.items()):
        note.findings.append(f"{variant}: " + ", ".join(f"{r['images_per_s']:.0f} images/s ({r['format']})" for r in rs) + ".")
    naive = by_variant.get("naive")
    if naive and len(by_variant) > 1:
        best_variant, best = max(((v, max(r["images_per_s"] for r in rs)) for v, rs in by_variant.items()), key=lambda kv: kv[1])
        ratio = best / max(r["images_per_s"] for r in naive)
        note.findings.append(f"Best ({best_variant}) is {ratio:.1f}x the naive pipeline.")
        if ratio < 1.5:
            note.contradicted.append(f"The optimized pipeline is only {ratio:.1f}x the naive one on {run.session.get('machine', {}).get('usable_cores', '?')} cores.")
    return note


def model_parameter_optimization(run: Run, histories: dict[str, dict]) -> Note:
    note = Note("Model-parameter optimization (training and fine-tuning)",
                "A few epochs of fine-tuning after pruning, clustering or QAT recover the fp32 accuracy (within ~1 pp).")
    for model, h in sorted(histories.items()):
        if h.get("val_accuracy"):
            note.findings.append(f"{model}: {len(h['val_accuracy'])} epochs, validation accuracy "
                                 f"{h['val_accuracy'][0]:.1%} -> {h['val_accuracy'][-1]:.1%} (train {h['accuracy'][-1]:.1%}).")
    arts = [a for a in (run.manifest or {}).get("artifacts", []) if not a.get("error")]
    for model in _models(arts):
        base = next((a["accuracy"] for a in arts if a["model"] == model and a["variant"] == "keras_fp32"), None)
        tuned = [a for a in arts if a["model"] == model and a.get("finetune_seconds")]
        if base is None or not tuned:
            continue
        worst = min(tuned, key=lambda a: a["accuracy"])
        drops = [(base - a["accuracy"]) * 100 for a in tuned]
        note.findings.append(f"{model}: after fine-tuning, median accuracy change {-statistics.median(drops):+.1f} pp; worst "
                             f"{worst['variant']}/{worst['format']} {(worst['accuracy'] - base) * 100:+.1f} pp.")
        if (base - worst["accuracy"]) * 100 > 1.0:
            note.contradicted.append(f"{model}: {worst['variant']} loses {(base - worst['accuracy']) * 100:.1f} pp despite fine-tuning"
                                     + (" (only the 6-unit head is trainable in the transfer model)" if "transfer" in model else "") + ".")
    return note

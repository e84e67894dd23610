"""The six optimization notes, written from this run's measurements: each states the textbook
claim, what was measured, and says plainly where the measurement contradicts it. Accuracy of a
deployed row is the one that row measured; accuracy of an artifact file is its build-time
verification in the manifest; each sentence says which."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field

from convbench.records import ArtifactRecord, BenchRun
from convbench.report.layers import compression_findings, hardware_findings
from convbench.report.rows import (accuracy_drop_pp, fastest, is_post_training, kib, model_rows, models, percent,
                                  precision, roofs)


@dataclass
class Note:
    title: str
    claim: str
    findings: list[str] = field(default_factory=list)
    contradicted: list[str] = field(default_factory=list)


def all_notes(run: BenchRun) -> list[Note]:
    return [model_compression(run), memory_optimization(run), accelerator_utilization(run),
            hardware_optimization(run), data_pipeline(run), model_parameter_optimization(run)]


def _artifacts(run: BenchRun) -> list[ArtifactRecord]:
    return [a for a in run.manifest.artifacts if a.ok] if run.manifest else []


def _verified(a: ArtifactRecord) -> str:
    v = a.verification
    return "not verified" if v is None else f"{v.accuracy:.1%} (verified on {v.runtime} at build time)"


def model_compression(run: BenchRun) -> Note:
    note = Note("Model compression",
                "Post-training int8 quantization makes a model ~4x smaller at <1 pp accuracy cost; "
                "pruning + quantization reach ~10x on compressed (gzip) size (TFMOT's MNIST guides).")
    arts = _artifacts(run)
    for model in models(arts):
        get = {(a.variant, a.format): a for a in arts if a.model == model}
        fp32, int8 = get.get(("tflite_fp32", "tflite_fp32")), get.get(("tflite_int8", "tflite_int8"))
        if fp32 and int8 and fp32.bytes and int8.bytes:
            ratio = fp32.bytes / int8.bytes
            both = fp32.accuracy is not None and int8.accuracy is not None
            drop = accuracy_drop_pp(fp32.accuracy, int8.accuracy) if both else None
            note.findings.append(
                f"{model}: the tflite_int8 file is {ratio:.2f}x smaller than fp32 ({kib(int8.bytes)} vs "
                f"{kib(fp32.bytes)}); file accuracy int8 {_verified(int8)}, fp32 {_verified(fp32)}.")
            if ratio < 3.5 or (drop is not None and drop > 1.0):
                lost = "" if drop is None else f" and loses {drop:.1f} pp"
                note.contradicted.append(f"{model}: int8 gives {ratio:.2f}x{lost} — outside the claim.")
        p80 = get.get(("pruned_80", "tflite_int8"))
        if fp32 and p80 and fp32.gzip_bytes and p80.gzip_bytes:
            ratio = fp32.gzip_bytes / p80.gzip_bytes
            note.findings.append(f"{model}: the pruned_80 int8 file gzips {ratio:.1f}x smaller than fp32, sparsity "
                                 f"{_sparsity(p80)} measured in the file, file accuracy {_verified(p80)}.")
            if ratio < 8:
                note.contradicted.append(f"{model}: pruning + int8 compresses only {ratio:.1f}x "
                                         f"(sparsity {_sparsity(p80)}).")
        p80_fp32 = get.get(("pruned_80", "tflite_fp32"))
        if fp32 and p80_fp32 and fp32.bytes and p80_fp32.bytes and p80_fp32.bytes >= fp32.bytes * 0.95:
            note.findings.append(f"{model}: the pruned fp32 .tflite is as large as the dense one "
                                 f"({kib(p80_fp32.bytes)}): zeros are stored; only compression (gzip) sees them.")
    note.findings += compression_findings(run)   # which layer's error explains the loss (report/layers.py)
    return note


def _sparsity(a: ArtifactRecord) -> str:
    return "unknown" if a.sparsity is None else f"{a.sparsity:.0%}"


def memory_optimization(run: BenchRun) -> Note:
    note = Note("Memory optimization", "A 4x smaller (int8) model needs correspondingly less memory to run.")
    mem = [m for m in run.of("memory") if is_post_training(m)]
    for (model, runtime, device) in sorted({(m.model, m.runtime, m.device) for m in mem}):
        mine = [m for m in mem if (m.model, m.runtime, m.device) == (model, runtime, device)]
        fp32 = next((m for m in mine if precision(m) == "fp32"), None)
        # The int8 file that saves the most: if even it does not halve the peak, none does.
        int8 = min((m for m in mine if precision(m) == "int8"), key=lambda m: m.phases[0].peak_rss_mib, default=None)
        if not (fp32 and int8):
            continue
        f, i = fp32.phases[0], int8.phases[0]
        note.findings.append(
            f"{model} on {runtime}: model memory above the runtime's own import {f.model_rss_mib:.1f} MiB "
            f"{fp32.format} vs {i.model_rss_mib:.1f} MiB {int8.format} at batch {f.batch}; whole process "
            f"{f.peak_rss_mib:.0f} vs {i.peak_rss_mib:.0f} MiB (import alone: {fp32.baseline_rss_mib:.0f} MiB).")
        if i.peak_rss_mib > 0.5 * f.peak_rss_mib:
            note.contradicted.append(f"{model} on {runtime}: int8 cuts process peak memory by only "
                                     f"{1 - i.peak_rss_mib / f.peak_rss_mib:.0%}: the runtime itself dominates.")
    baselines = {m.runtime: m.baseline_rss_mib for m in run.of("memory")}
    if baselines:
        note.findings.append("Import-only peak RSS per runtime: " +
                             ", ".join(f"{k} {v:.0f} MiB" for k, v in sorted(baselines.items())) + ".")
    return note


def accelerator_utilization(run: BenchRun) -> Note:
    note = Note("Accelerator utilization",
                "Larger batches keep the hardware busy: throughput and the fraction of peak FLOP/s grow with "
                "batch size.")
    lat = [r for r in model_rows(run.latency) if r.fraction_of_roof is not None]
    if run.record.roofs.devices:
        note.findings.append(f"Measured roofs, per precision on all cores (the Roofs section lists every probe): "
                             f"{roofs(run.record.roofs)}; ops counted as {run.record.roofs.ops_count}.")
    for model in models(lat):
        mine = [r for r in lat if r.model == model]
        b1 = max((r for r in mine if r.batch == 1), key=lambda r: r.fraction_of_roof, default=None)
        best = max(mine, key=lambda r: r.fraction_of_roof)
        if b1:
            note.findings.append(
                f"{model}: best batch-1 row reaches {b1.achieved_gflops:.1f} Gop/s ({b1.fraction_of_roof:.0%} of "
                f"{b1.roof_name}, {b1.variant}/{b1.runtime}); best overall {best.achieved_gflops:.1f} Gop/s "
                f"({best.fraction_of_roof:.0%} of {best.roof_name}) at batch {best.batch} "
                f"({best.variant}/{best.runtime}, t{best.threads_label}).")
            if best.batch == 1 or best.fraction_of_roof < b1.fraction_of_roof * 1.1:
                note.contradicted.append(f"{model}: batching did not raise utilization by more than 10 %.")
    over = [r for r in lat if r.fraction_of_roof > 1.0]
    if over:
        top = max(over, key=lambda r: r.fraction_of_roof)
        note.contradicted.append(f"{len(over)} row(s) exceed 100 % of their roof (highest: {top.label} at "
                                 f"{top.fraction_of_roof:.0%} of {top.roof_name}): for them the roof is not an "
                                 "upper bound, so their '% of roof' is not a utilization.")
    if not run.record.machine.gpu_name:
        gpu_skips = [s for s in run.record.skipped if "gpu" in f"{s.nodeid} {s.reason}".lower()]
        note.findings.append("No GPU on this machine: GPU rows were skipped" +
                             (f" ({len(gpu_skips)} rows, reason: {gpu_skips[0].reason})" if gpu_skips else "") + ".")
    return note


def hardware_optimization(run: BenchRun) -> Note:
    note = Note("Hardware optimization (threads, XNNPACK, graph optimization, int8 kernels)",
                "int8 kernels run 2-4x faster than fp32 on CPUs; XNNPACK and ORT's full graph optimization "
                "speed inference up; two threads approach 2x; sparsity speeds up pruned models.")
    lat = [r for r in run.latency if r.device == "cpu" and r.batch == 1]
    flags = run.record.machine.cpu_flags
    vnni = any(flags.get(k) for k in ("avx512_vnni", "avx_vnni", "amx_int8"))
    for model in models(lat):
        rows = [r for r in lat if r.model == model]
        f32 = fastest(rows, variant="tflite_fp32", runtime="litert", threads=1)
        i8 = fastest(rows, variant="tflite_int8", runtime="litert", threads=1)
        if f32 and i8:
            ratio = f32.stats.p50_ms / i8.stats.p50_ms
            note.findings.append(
                f"{model}: LiteRT int8 {_us(i8)} vs fp32 {_us(f32)} (int8 {ratio:.2f}x the speed of fp32), 1 thread, "
                f"batch 1; accuracy measured by these rows: int8 {percent(i8.accuracy)}, fp32 {percent(f32.accuracy)}.")
            if ratio < 1.5:
                why = "; this CPU has no VNNI int8 dot-product instructions." if not vnni else "."
                note.contradicted.append(f"{model}: int8 is not 2-4x faster ({ratio:.2f}x){why}")
        off = fastest(rows, variant="tflite_fp32", runtime="litert_noxnnpack", threads=1)
        if f32 and off:
            note.findings.append(f"{model}: XNNPACK on {_us(f32)} vs off {_us(off)} "
                                 f"({off.stats.p50_ms / f32.stats.p50_ms:.2f}x).")
        t2 = fastest(rows, variant="tflite_fp32", runtime="litert", threads=2)
        if f32 and t2:
            note.findings.append(f"{model}: LiteRT fp32 2 threads {f32.stats.p50_ms / t2.stats.p50_ms:.2f}x "
                                 "the speed of 1 thread.")
        full = fastest(rows, variant="onnx_fp32", runtime="onnxruntime", threads=1)
        basic = fastest(rows, variant="onnx_fp32", runtime="onnxruntime_basic", threads=1)
        if full and basic:
            note.findings.append(f"{model}: ORT graph optimization 'all' {_us(full)} vs 'basic' {_us(basic)}.")
        pruned = fastest(rows, variant="pruned_80", format="tflite_fp32", runtime="litert", threads=1)
        if f32 and pruned:
            gain = f32.stats.p50_ms / pruned.stats.p50_ms
            note.findings.append(f"{model}: pruned_80 fp32 runs {gain:.2f}x the speed of dense fp32 "
                                 f"(accuracy measured by the pruned row: {percent(pruned.accuracy)}).")
            if gain < 1.2:
                note.contradicted.append(f"{model}: 80 % sparsity gives little or no speed-up ({gain:.2f}x, not ~5x): "
                                         "dense kernels still multiply the zeros.")
    note.findings += hardware_findings(run)   # the layers behind the headline (report/layers.py)
    return note


def _us(row) -> str:
    return f"{row.stats.p50_ms * 1e3:.0f} µs"


def data_pipeline(run: BenchRun) -> Note:
    note = Note("Data-pipeline optimization",
                "cache(), prefetch() and parallel map (AUTOTUNE) keep the model fed; the optimized tf.data "
                "pipeline is several times faster than the naive one.")
    by_pipeline: dict[str, list] = {}
    for r in run.of("pipeline"):
        by_pipeline.setdefault(r.pipeline, []).append(r)
    for pipeline, rs in sorted(by_pipeline.items()):
        rates = (f"{r.images_per_s:.0f} images/s (consumer {r.consumer_ms:g} ms)" for r in rs)
        note.findings.append(f"{pipeline}: " + ", ".join(rates) + ".")
    naive = by_pipeline.get("naive")
    if naive and len(by_pipeline) > 1:
        best_pipeline, best = max(((p, max(r.images_per_s for r in rs)) for p, rs in by_pipeline.items()),
                                  key=lambda kv: kv[1])
        ratio = best / max(r.images_per_s for r in naive)
        note.findings.append(f"Best ({best_pipeline}) is {ratio:.1f}x the naive pipeline.")
        if ratio < 1.5:
            note.contradicted.append(f"The optimized pipeline is only {ratio:.1f}x the naive one on "
                                     f"{run.record.machine.usable_cores} cores.")
    return note


def model_parameter_optimization(run: BenchRun) -> Note:
    note = Note("Model-parameter optimization (training and fine-tuning)",
                "A few epochs of fine-tuning after pruning, clustering or QAT recover the fp32 accuracy "
                "(within ~1 pp).")
    trained = run.manifest.trained if run.manifest else []
    for t in sorted(trained, key=lambda t: t.name):
        val, train = t.history.get("val_accuracy"), t.history.get("accuracy")
        if val:
            note.findings.append(f"{t.name}: {len(val)} epochs, validation accuracy {val[0]:.1%} -> {val[-1]:.1%}"
                                 + (f" (train {train[-1]:.1%})." if train else "."))
    arts = _artifacts(run)
    for model in models(arts):
        base = run.fp32_accuracy(model)
        tuned = [a for a in arts if a.model == model and a.finetune_seconds and a.accuracy is not None]
        if base is None or not tuned:
            continue
        worst = min(tuned, key=lambda a: a.accuracy)
        drops = [accuracy_drop_pp(base, a.accuracy) for a in tuned]
        note.findings.append(f"{model}: after fine-tuning, the files' build-time verified accuracy changes by "
                             f"{-statistics.median(drops):+.1f} pp (median) against the trained fp32 model; worst "
                             f"{worst.variant}/{worst.format} {(worst.accuracy - base) * 100:+.1f} pp.")
        lost_pp = accuracy_drop_pp(base, worst.accuracy)
        if lost_pp > 1.0:
            why = " (only the 6-unit head is trainable in the transfer model)" if "transfer" in model else ""
            note.contradicted.append(f"{model}: {worst.variant} loses {lost_pp:.1f} pp despite fine-tuning{why}.")
    return note

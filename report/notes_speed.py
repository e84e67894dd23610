"""The notes about speed: accelerator utilization, hardware optimization (threads, XNNPACK, graph
optimization, int8 kernels, sparsity) and the data pipeline, each a claim and a compact table
(notes.py has the others and what a note is)."""

from __future__ import annotations

from convbench.core.records import BenchRun
from convbench.report.layers import hardware_layers
from convbench.report.notes import Note
from convbench.report.rows import fastest, model_rows, models
from convbench.report.table import pct, times
from convbench.core.formats import ONNX_FP32, TFLITE_FP32, TFLITE_INT8

# "int8 is fast here": int8 at least this many times the speed of fp32 (a row, or the roofs).
FAST_INT8 = 1.5


def accelerator_utilization(run: BenchRun) -> Note:
    note = Note("Accelerator utilization",
                "Larger batches keep the hardware busy: throughput and the fraction of peak FLOP/s grow with "
                "batch size.",
                ["model", "best batch-1 (Gop/s)", "of roof (%)", "batch-1 row", "best overall (Gop/s)",
                 "of roof (%)", "best row", "verdict"])
    lat = [r for r in model_rows(run.latency) if r.fraction_of_roof is not None]
    if run.record.roofs.devices:
        note.lines.append(f"Roofs, per precision on all cores (the Roofline section lists every probe): "
                          f"{run.record.roofs.describe()}; compute = ops x batch / p50, ops counted as "
                          f"{run.record.roofs.ops_count}; each row against the roof of its own precision.")
    for model in models(lat):
        mine = [r for r in lat if r.model == model]
        b1 = max((r for r in mine if r.batch == 1), key=lambda r: r.fraction_of_roof, default=None)
        best = max(mine, key=lambda r: r.fraction_of_roof)
        if b1:
            flat = best.batch == 1 or best.fraction_of_roof < b1.fraction_of_roof * 1.1
            note.row([model, f"{b1.achieved_gflops:.1f}", pct(b1.fraction_of_roof, 0), f"{b1.variant} {b1.runtime}",
                      f"{best.achieved_gflops:.1f}", pct(best.fraction_of_roof, 0),
                      f"{best.variant} {best.runtime} b{best.batch} t{best.threads_label}"],
                     "batching raised utilization by less than 10 %" if flat else None)
    over = [r for r in lat if r.fraction_of_roof > 1.0]
    if over:
        top = max(over, key=lambda r: r.fraction_of_roof)
        note.contradiction(f"{len(over)} row(s) exceed 100 % of their roof (highest: {top.label} at "
                           f"{top.fraction_of_roof:.0%} of {top.roof_name}): for them the roof is not an upper bound, "
                           "so their '% of roof' is not a utilization.")
    if not run.record.machine.gpu_name:
        gpu_skips = [s for s in run.record.skipped if "gpu" in f"{s.nodeid} {s.reason}".lower()]
        note.lines.append("No GPU on this machine: GPU rows were skipped" +
                          (f" ({len(gpu_skips)} rows, reason: {gpu_skips[0].reason})" if gpu_skips else "") + ".")
    return note


def hardware_optimization(run: BenchRun) -> Note:
    note = Note("Hardware optimization (threads, XNNPACK, graph optimization, int8 kernels)",
                "int8 kernels run 2-4x faster than fp32 on CPUs; XNNPACK and ORT's full graph optimization "
                "speed inference up; two threads approach 2x; sparsity speeds up pruned models.",
                ["model", "LiteRT fp32 → int8 (µs)", "int8 speed (× fp32)", "accuracy fp32 → int8 (%, row)",
                 "XNNPACK off → on (µs)", "2 threads (× 1)", "ORT basic → all (µs)", "pruned_80 fp32 (× dense)",
                 "verdict"])
    lat = [r for r in run.latency if r.device == "cpu" and r.batch == 1]
    slow_int8 = sparse_flat = False
    for model in models(lat):
        rows = [r for r in lat if r.model == model]
        f32 = fastest(rows, variant=TFLITE_FP32, runtime="litert", threads=1)
        i8 = fastest(rows, variant=TFLITE_INT8, runtime="litert", threads=1)
        off = fastest(rows, variant=TFLITE_FP32, runtime="litert_noxnnpack", threads=1)
        t2 = fastest(rows, variant=TFLITE_FP32, runtime="litert", threads=2)
        full = fastest(rows, variant=ONNX_FP32, runtime="onnxruntime", threads=1)
        basic = fastest(rows, variant=ONNX_FP32, runtime="onnxruntime_basic", threads=1)
        pruned = fastest(rows, variant="pruned_80", format=TFLITE_FP32, runtime="litert", threads=1)
        if not any((f32, i8, full)):
            continue
        problems = []
        int8_gain = _ratio(f32, i8)
        if int8_gain is not None and int8_gain < FAST_INT8:
            problems.append(f"int8 {int8_gain:.2f}x, not 2-4x")
            slow_int8 = True
        sparse_gain = _ratio(f32, pruned)
        if sparse_gain is not None and sparse_gain < 1.2:
            problems.append(f"80 % sparsity {sparse_gain:.2f}x, not ~5x")
            sparse_flat = True
        note.row([model, f"{_us(f32)} → {_us(i8)}", times(int8_gain),
                  f"{pct(f32 and f32.accuracy)} → {pct(i8 and i8.accuracy)}", f"{_us(off)} → {_us(f32)}",
                  times(_ratio(f32, t2)), f"{_us(basic)} → {_us(full)}", times(sparse_gain)],
                 "; ".join(problems) or None)
    if note.table.rows:
        note.lines.append("CPU, batch 1, one thread unless stated; p50 latency; ×: how many times the speed.")
    if slow_int8:
        note.lines.append(_int8_kernels(run))
    if sparse_flat:
        note.lines.append("Dense kernels still multiply the pruned zeros: sparsity saves size, not time.")
    note.layers = hardware_layers(run)   # the layers behind the headline (report/layers.py)
    return note


def _int8_kernels(run: BenchRun) -> str:
    """Why int8 was not much faster, from this run's measured roofs (DeviceRoofs.int8_speedup)."""
    cpu = run.record.roofs.pooled("cpu")
    speedup = cpu.int8_speedup(1) if cpu else None
    if speedup is None:
        return "This run measured no int8 and fp32 roofs to tell whether this CPU has a fast int8 path."
    instruction = cpu.int8_instruction()
    has = f"its flags name {instruction}" if instruction else "its flags name no int8 dot-product instruction"
    if speedup < FAST_INT8:
        return (f"This CPU's measured int8 roof is {speedup:.1f}x its fp32 roof on one thread ({has}): int8 kernels "
                "have no fast path here.")
    return (f"This CPU's measured int8 roof is {speedup:.1f}x its fp32 roof on one thread ({has}), yet some "
            "models' int8 files were not: the per-layer table below shows which layers did not speed up.")


def _ratio(reference, row) -> float | None:
    """How many times the speed of `reference` `row` runs at (p50)."""
    return reference.stats.p50_ms / row.stats.p50_ms if reference and row else None


def _us(row) -> str:
    return "–" if row is None else f"{row.stats.p50_ms * 1e3:.0f}"


def data_pipeline(run: BenchRun) -> Note:
    note = Note("Data-pipeline optimization",
                "cache(), prefetch() and parallel map (AUTOTUNE) keep the model fed; the optimized tf.data "
                "pipeline is several times faster than the naive one.",
                ["pipeline", "simulated train step (ms)", "images/s", "× naive (same step)"])
    rows = run.of("pipeline")
    naive = {r.consumer_ms: r.images_per_s for r in rows if r.pipeline == "naive"}
    for r in sorted(rows, key=lambda r: (r.consumer_ms, r.images_per_s)):
        base = naive.get(r.consumer_ms)
        note.row([r.pipeline, f"{r.consumer_ms:g}", f"{r.images_per_s:,.0f}", times(base and r.images_per_s / base)])
    if naive and len({r.pipeline for r in rows}) > 1:
        best = max(rows, key=lambda r: r.images_per_s)
        ratio = best.images_per_s / max(naive.values())
        note.lines.append(f"Best ({best.pipeline}) is {ratio:.1f}x the naive pipeline.")
        if ratio < 1.5:
            note.contradiction(f"The optimized pipeline is only {ratio:.1f}x the naive one on "
                               f"{run.record.machine.usable_cores} cores.")
    return note

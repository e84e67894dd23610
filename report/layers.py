"""Per lesson convnet, the layers suite's fp32 and int8 profiles of one runtime joined layer by
layer with the int8 file's per-layer quantization error (from the manifest: optimize computes
it), and the note sentences that cite the layers behind the headline numbers. Which layers are
cited is computed from the data; no layer is named here."""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass

from convbench.core.records import BenchRun, LayerError, LayerProfileResult, LayerTiming
from convbench.report.rows import accuracy_drop_pp, fastest
from convbench.report.table import Cell, Table, number_or_text
from convbench.core.formats import ONNX_FP32, ONNX_INT8, TFLITE_FP32, TFLITE_INT8

# (runtime, fp32 baseline, int8 file): the pairs a table joins, LiteRT first (the notes cite it).
PAIRS = (("litert", TFLITE_FP32, TFLITE_INT8), ("onnxruntime", ONNX_FP32, ONNX_INT8))
MIN_SHARE = 0.05   # a layer below this share of the fp32 time explains nothing about the whole
# Graph operators that do the same job in the fp32 and int8 graphs (and in TFLite and ORT).
KINDS = {"conv": {"CONV_2D", "DEPTHWISE_CONV_2D", "Conv", "FusedConv", "NhwcFusedConv", "NhwcConv", "QLinearConv",
                  "ConvInteger"},
         "dense": {"FULLY_CONNECTED", "BATCH_MATMUL", "MatMul", "Gemm", "FusedGemm", "FusedMatMul", "QGemm",
                   "QLinearMatMul", "MatMulInteger", "MatMulIntegerToFloat", "DynamicQuantizeMatMul"},
         "pool": {"MAX_POOL_2D", "AVERAGE_POOL_2D", "MaxPool", "AveragePool", "NhwcMaxPool", "QLinearAveragePool"},
         "softmax": {"SOFTMAX", "Softmax"}}


def kind(op_type: str) -> str:
    """What a layer does, the same word in fp32 and int8 graphs ('QLinearMul' does a 'Mul')."""
    found = next((k for k, types in KINDS.items() if op_type in types), None)
    return found or (kind(op_type.removeprefix("QLinear")) if op_type.startswith("QLinear") else op_type)


def short_name(name: str) -> str:
    """The converter's first name for a tensor, without the model's scope ('sequential/')."""
    first = name.split(";")[0]
    parts = first.split("/")
    return "/".join(parts[1:]) if len(parts) > 2 else first


def pair_up(left: list, right: list, key) -> list[tuple]:
    """(left, right) pairs matched by key(item) and its occurrence among equal keys, in left's
    order; right's unmatched items follow with None on the left."""
    def keyed(items):
        seen = Counter()
        out = {}
        for item in items:
            k = key(item)
            out[(k, seen[k])] = item
            seen[k] += 1
        return out

    a, b = keyed(left), keyed(right)
    return [(item, b.get(k)) for k, item in a.items()] + [(None, item) for k, item in b.items() if k not in a]


@dataclass
class LayerRow:
    fp32: LayerTiming | None
    int8: LayerTiming | None
    error: LayerError | None

    @property
    def label(self) -> str:
        layer = self.fp32 or self.int8
        return f"{short_name(layer.name)} ({layer.op_type})"

    @property
    def speedup(self) -> float | None:
        ok = self.fp32 and self.int8 and self.fp32.time_us > 0 and self.int8.time_us > 0
        return self.fp32.time_us / self.int8.time_us if ok else None


@dataclass
class LayerJoin:
    model: str
    runtime: str
    fp32: LayerProfileResult
    int8: LayerProfileResult | None
    int8_format: str
    rows: list[LayerRow]
    errors_from: str | None            # the fp32 file the int8 file's errors were measured against

    @property
    def speedup(self) -> float | None:
        return self.fp32.whole_us / self.int8.whole_us if self.int8 else None


def _profile(run: BenchRun, model: str, runtime: str, fmt: str) -> LayerProfileResult | None:
    return next((r for r in run.of("layers") if (r.model, r.runtime, r.variant, r.format, r.threads)
                 == (model, runtime, fmt, fmt, 1)), None)


def joins(run: BenchRun, model: str) -> list[LayerJoin]:
    out = []
    for runtime, fp32_format, int8_format in PAIRS:
        fp32 = _profile(run, model, runtime, fp32_format)
        if fp32 is None:
            continue
        int8 = _profile(run, model, runtime, int8_format)
        artifact = run.manifest.artifact(model, int8_format, int8_format) if run.manifest else None
        errors = artifact.layer_errors if artifact else []
        rows = [LayerRow(f, i, None) for f, i in pair_up(fp32.layers, int8.layers if int8 else [],
                                                         lambda t: kind(t.op_type))]
        _attach_errors(rows, errors)
        out.append(LayerJoin(model, runtime, fp32, int8, int8_format, rows,
                             artifact.layer_errors_reference if errors else None))
    return out


def _attach_errors(rows: list[LayerRow], errors: list[LayerError]) -> None:
    """Each fp32 layer's error: by its name in the fp32 parent, else by kind and occurrence
    (ORT profiles name the nodes of its optimized graph, not the file's)."""
    named = {e.name: e for e in errors}
    timed = [r for r in rows if r.fp32]
    for r in timed:
        r.error = named.get(r.fp32.name)
    left = [e for e in errors if e.name not in {r.fp32.name for r in timed}]
    unmatched = [r for r in timed if r.error is None]
    # pair_up lists every left item first, in order: zip maps the pairs back to their rows.
    for r, (_, e) in zip(unmatched, pair_up([r.fp32 for r in unmatched], left, lambda x: kind(x.op_type))):
        r.error = e


@dataclass
class LayerSection:
    title: str
    summary: str
    table: Table


def _f(value, fmt: str) -> Cell:
    return Cell("–" if value is None else format(value, fmt), number_or_text(value))


def _gops(layer: LayerTiming | None) -> float | None:
    return layer.ops_per_s / 1e9 if layer and layer.ops_per_s else None


def _snr(error: LayerError | None) -> Cell:
    if error is not None and error.snr_db is None:
        return Cell("∞ (identical)", repr(float("inf")))
    return _f(error and error.snr_db, ".1f")


def layer_sections(run: BenchRun, model: str) -> list[LayerSection]:
    return [_section(j) for j in joins(run, model)]


def _section(j: LayerJoin) -> LayerSection:
    headers = ["layer", "fp32 µs", "fp32 share %", f"{j.int8_format} µs", "speed-up", "fp32 Gop/s", "int8 Gop/s",
               "SNR dB", "rel. error"]
    rows = []
    for r in j.rows:
        f, i, e = r.fp32, r.int8, r.error
        rows.append([Cell(r.label), _f(f and f.time_us, ".2f"), _f(f and f.share * 100, ".1f"),
                     _f(i and i.time_us, ".2f"), _f(r.speedup, ".2f"), _f(_gops(f), ".1f"), _f(_gops(i), ".1f"),
                     _snr(e), _f(e and e.rel_l2, ".3g")])
    ratio = f"{j.fp32.sum_ratio:.2f} (fp32)" + (f", {j.int8.sum_ratio:.2f} ({j.int8_format})" if j.int8 else "")
    whole = f"whole model fp32 {j.fp32.whole_us:.1f} µs" + (
        f", {j.int8_format} {j.int8.whole_us:.1f} µs ({j.speedup:.2f}x)" if j.int8 else f"; no {j.int8_format} profile")
    errors = (f"per-layer error of {j.int8_format} against {j.errors_from} on the same held-out inputs, from the "
              "manifest" if j.errors_from else f"Per-layer quantization error: not measured (the manifest has none "
                                                 f"for {j.int8_format})")
    summary = (f"{j.runtime}, 1 thread, batch 1: {whole}; layers + one call's overhead sum to {ratio} of the whole. "
               f"Method: {j.fp32.method}. {' '.join(j.fp32.notes)} Ops: {j.fp32.ops_count}. {errors}.")
    return LayerSection(f"{j.model}: per-layer latency and error ({j.runtime})", summary,
                        Table(headers, rows, sortable=True))


def _cite(rows: list[LayerRow]) -> str:
    return ", ".join(f"{r.label}: {r.fp32.share:.0%}, {r.speedup:.2f}x" for r in rows)


HARDWARE_HEADERS = ["model", "runtime (1 thread)", "whole model int8 (× fp32)",
                    "layers holding the time (share of fp32, int8 ×)", "slower with int8 (or helped least)",
                    "int8-only ops (µs, share of int8)"]


def hardware_layers(run: BenchRun) -> Table | None:
    """One row per model, from the first runtime with both profiles: which layers hold the time
    and what int8 did to them, the layers int8 made slower (or, without any, the one it helped
    least), and what the int8-only (re)quantize ops cost. None without per-layer profiles."""
    rows = []
    for model in sorted({r.model for r in run.of("layers")}):
        j = next((j for j in joins(run, model) if j.int8), None)
        big = [r for r in j.rows if r.fp32 and r.speedup and r.fp32.share >= MIN_SHARE] if j else []
        if not big:
            continue
        dominant = sorted(big, key=lambda r: -r.fp32.share)[:2]
        slower = [r for r in big if r.speedup < 1]
        least = slower or [min(big, key=lambda r: r.speedup)]
        extra = sum(r.int8.time_us for r in j.rows if r.fp32 is None and r.int8)
        rows.append([Cell(model), Cell(j.runtime), Cell(f"{j.speedup:.2f}"), Cell(_cite(dominant)),
                     Cell(("slower: " if slower else "least: ") + _cite(least)),
                     Cell(f"{extra:.2f} ({extra / j.int8.whole_us:.0%})")])
    return Table(HARDWARE_HEADERS, rows) if rows else None


COMPRESSION_HEADERS = ["model", "int8 file", "Δ vs fp32 (pp, its batch-1 row)", "agreement with fp32 (%)",
                       "largest per-layer error (SNR dB)", "error grows most at (SNR dB before → after)"]


def compression_layers(run: BenchRun) -> Table | None:
    """One row per model and int8 file with per-layer errors: its accuracy loss and agreement with
    fp32 (measured by its batch-1, 1-thread row), the layer with the largest error, and where it
    grows most. None where no int8 file has per-layer errors."""
    rows = []
    for model in sorted({r.model for r in run.latency}):
        for j in joins(run, model):
            snr = [(r, math.inf if r.error.snr_db is None else r.error.snr_db) for r in j.rows if r.error]
            if not snr:
                continue
            worst, worst_db = min(snr, key=lambda x: x[1])
            drops = [(b, a_db, b_db) for (_, a_db), (b, b_db) in zip(snr, snr[1:]) if a_db > b_db and a_db < math.inf]
            grows = "–"
            if drops:
                layer, before, after = max(drops, key=lambda d: d[1] - d[2])
                grows = f"{layer.label} ({before:.1f} → {after:.1f})"
            loss, agreement = _loss(run, model, j)
            rows.append([Cell(model), Cell(f"{j.int8_format} ({j.runtime})"), Cell(loss), Cell(agreement),
                         Cell(f"{worst.label} ({worst_db:.1f})"), Cell(grows)])
    return Table(COMPRESSION_HEADERS, rows) if rows else None


def _loss(run: BenchRun, model: str, j: LayerJoin) -> tuple[str, str]:
    """(Δ vs the trained fp32 model in pp, agreement in %) of the int8 file's batch-1, 1-thread row."""
    row = fastest(run.latency, model=model, variant=j.int8_format, format=j.int8_format, runtime=j.runtime,
                  batch=1, threads=1)
    fp32 = run.fp32_accuracy(model)
    if row is None or row.accuracy is None or fp32 is None:
        return "not measured", "not measured"
    return (f"{round(-accuracy_drop_pp(fp32, row.accuracy), 1) + 0.0:+.1f}",   # + 0.0: no "-0.0"
            "not measured" if row.agreement_vs_fp32 is None else f"{row.agreement_vs_fp32 * 100:.1f}")

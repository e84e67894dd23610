"""Two post-training int8 paths side by side, per model: the TFLite converter (tf.lite) and the
LiteRT Quantizer (ai-edge-quantizer) on the same fp32 model, each file's accuracy (its build-time
verification on the held-out split), size and batch-1 latency (LiteRT, one thread, this run);
what each selective variant kept float; and per model the techniques that could not apply to it."""

from __future__ import annotations

from dataclasses import dataclass, field

from convbench.core.records import ArtifactRecord, BenchRun, LatencyResult
from convbench.report.charts import pareto_front
from convbench.report.rows import fastest, kib, model_rows, percent
from convbench.report.table import Cell, Table

# (recipe, converter variant, LiteRT Quantizer variant); a variant is named after its format.
PAIRS = (
    ("dynamic range (int8 weights)", "tflite_dynamic", "lrq_dynamic_int8"),
    ("static int8, float I/O", "tflite_int8", "lrq_int8"),
    ("selective int8", "selective_int8", "lrq_selective_int8"),
    ("weight-only int8", None, "lrq_weight_int8"),
)
TIMED_ON = dict(runtime="litert", device="cpu", batch=1, threads=1)
HEADERS = ["model", "recipe", "converter variant", "accuracy %", "size", "b1 p50 ms",
           "LiteRT Quantizer variant", "accuracy %", "size", "b1 p50 ms"]


@dataclass
class PostTrainingPaths:
    intro: str
    table: Table
    selective: list[str] = field(default_factory=list)   # one line per selective file


def post_training_paths(run: BenchRun) -> PostTrainingPaths | None:
    """None when the run has neither path's files (nothing to compare)."""
    if run.manifest is None:
        return None
    rows = []
    for model in run.manifest.models:
        for recipe, converter, quantizer in PAIRS:
            sides = [_side(run, model, v) for v in (converter, quantizer)]
            if any(side is not None for side in sides):
                rows.append([Cell(model), Cell(recipe)] + [c for side in sides for c in side or _absent()])
    if not rows:
        return None
    intro = ("The same trained fp32 model quantized by the TFLite converter and by the LiteRT Quantizer. Accuracy: "
             "each file's verification on the held-out split; latency: LiteRT (XNNPACK), batch 1, one thread, median "
             "of this run's rounds; '–': not built or not timed in this run.")
    return PostTrainingPaths(intro, Table(HEADERS, rows, sortable=True), selective_lines(run))


def _side(run: BenchRun, model: str, variant: str | None) -> list[Cell] | None:
    artifact = run.manifest.artifact(model, variant, variant) if variant else None
    if artifact is None or not artifact.ok:
        return None
    timed = fastest(run.latency, model=model, variant=variant, format=variant, **TIMED_ON)
    return [Cell(variant), Cell(percent(artifact.accuracy), repr(artifact.accuracy)),
            Cell(kib(artifact.bytes), repr(artifact.bytes)),
            Cell(f"{timed.stats.p50_ms:.4f}" if timed else "–", repr(timed.stats.p50_ms) if timed else "")]


def _absent() -> list[Cell]:
    return [Cell("–") for _ in range(4)]


def selective_lines(run: BenchRun) -> list[str]:
    lines = []
    for a in run.manifest.artifacts:
        if not a.ok or a.selection is None:
            continue
        s = a.selection
        ops = {r.name: r.op_type for r in s.ranking}
        kept = ", ".join(f"{keras_layers(n)} ({ops.get(n, '?')})" for n in s.float_layers) \
            or "none (full int8 is within the budget)"
        met = "" if s.met_budget else f" — MISSED the {s.budget_pp:g} pp budget even with every ranked layer float"
        lines.append(
            f"{a.model}/{a.variant} ({s.quantizer}): kept float: {kept} ({len(s.float_layers)} of {len(s.ranking)} "
            f"ranked layers, {len(s.trace)} tries){met}. Validation accuracy fp32 {percent(s.fp32_val_accuracy)}, "
            f"full int8 {percent(s.full_int8_val_accuracy)}, selective {percent(s.val_accuracy)}; held-out "
            f"{percent(a.accuracy)}. Size {kib(a.bytes)} vs {kib(s.full_int8_bytes)} full int8"
            f"{_latency_vs_int8(run, a)}.{_pareto(run, a)}")
    return lines


def keras_layers(tensor_name: str) -> str:
    """An op's output tensor name shortened to the Keras layers it came from: the converter fuses
    ops and joins their names with ';' ("m/batch_normalization/batchnorm/mul_1;m/dense_1/MatMul;..."
    -> "batch_normalization+dense_1"). The manifest keeps the full names (what quantizers select by)."""
    parts = [p.split("/") for p in tensor_name.split(";")]
    return "+".join(dict.fromkeys(p[1] if len(p) > 2 else "/".join(p) for p in parts))


def _latency_vs_int8(run: BenchRun, a: ArtifactRecord) -> str:
    full = "tflite_int8" if a.selection.quantizer == "tflite_converter" else "lrq_int8"
    mine = fastest(run.latency, model=a.model, variant=a.variant, format=a.format, **TIMED_ON)
    theirs = fastest(run.latency, model=a.model, variant=full, format=full, **TIMED_ON)
    if not (mine and theirs):
        return ""
    return f"; batch-1 p50 {mine.stats.p50_ms:.4f} ms vs {theirs.stats.p50_ms:.4f} ms ({full})"


def _pareto(run: BenchRun, a: ArtifactRecord) -> str:
    """Whether its fastest batch-1 CPU row is on the model's latency-accuracy frontier (the chart's)."""
    rows = [r for r in model_rows(run.latency)
            if r.model == a.model and r.device == "cpu" and r.batch == 1 and r.accuracy is not None]
    mine = [r for r in rows if (r.variant, r.format) == (a.variant, a.format)]
    if not mine:
        return ""
    best: LatencyResult = min(mine, key=lambda r: r.stats.p50_ms)
    front = pareto_front([(r.stats.p50_ms, r.accuracy * 100) for r in rows])
    on = (best.stats.p50_ms, best.accuracy * 100) in front
    return (f" {'On' if on else 'Not on'} the batch-1 latency-accuracy Pareto frontier "
            f"({best.runtime}, {best.threads_label} thread(s)).")


def skipped_table(run: BenchRun, model: str) -> Table | None:
    """The model's techniques and formats that could not apply to it, and why."""
    skipped = [a for a in (run.manifest.artifacts if run.manifest else []) if a.model == model and a.skipped]
    if not skipped:
        return None
    return Table(["variant", "format", "why it cannot apply"],
                 [[Cell(a.variant), Cell(a.format), Cell(a.skipped)] for a in skipped])

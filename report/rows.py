"""Small lookups over a run's typed rows that the tables, notes, plots and recommendation share."""

from __future__ import annotations

from convbench.core.formats import FORMATS
from convbench.core.records import BenchRun, LatencyResult, MemoryResult

NULL_RUNTIME = "null"            # times the harness on a constant output: no model, no accuracy
EAGER_RUNTIME = "keras_eager"    # the speed-up column's yardstick


def model_rows(rows: list) -> list:
    """The rows that ran a model (the null runtime's rows measure the harness)."""
    return [r for r in rows if r.runtime != NULL_RUNTIME]


def fastest(rows: list[LatencyResult], **match) -> LatencyResult | None:
    """The lowest-p50 row whose attributes equal `match` (e.g. runtime="litert", threads=1)."""
    found = [r for r in rows if all(getattr(r, k) == v for k, v in match.items())]
    return min(found, key=lambda r: (r.stats.p50_ms, r.label)) if found else None


def one_core(rows: list[LatencyResult]) -> list[LatencyResult]:
    """The rows that files are compared on for speed: those at one thread, each file's speed on
    one core, the setting another tenant on the second core moves least (on a 2-core VM a file's
    2-thread row ran 1.1x the fastest 1-thread row in one bench and over 1.5x in the next:
    docs/measurements); all of them where none ran at one thread (a GPU's rows, TensorFlow's)."""
    return [r for r in rows if r.threads == 1] or rows


def models(rows: list) -> list[str]:
    return sorted({r.model for r in rows})


def eager_p50_ms(run: BenchRun, row: LatencyResult) -> float | None:
    """keras_eager's batch-`row.batch` p50 on the same model and device (its own threads)."""
    eager = fastest(run.latency, model=row.model, device=row.device, batch=row.batch, runtime=EAGER_RUNTIME)
    return eager.stats.p50_ms if eager else None


def memory_of(run: BenchRun, row) -> MemoryResult | None:
    """The memory row of the same artifact on the same runtime and device."""
    return next((m for m in run.of("memory") if (m.model, m.variant, m.format, m.runtime, m.device)
                 == (row.model, row.variant, row.format, row.runtime, row.device)), None)


def is_post_training(row) -> bool:
    """A plain post-training variant (variant named after its format: tflite_int8, onnx_fp32, ...)."""
    return row.variant == row.format and bool(FORMATS.get(row.format) and FORMATS[row.format].post_training)


def precision(row) -> str | None:
    fmt = FORMATS.get(row.format)
    return fmt.precision if fmt else None


def accuracy_drop_pp(reference: float, measured: float) -> float:
    """`reference - measured` in percentage points, rounded to 1e-9 pp so that float error does
    not decide a budget: (0.98 - 0.97) * 100 is 1.0000000000000009, and that is a 1 pp drop."""
    return round((reference - measured) * 100, 9)


def kib(size_bytes: int) -> str:
    return f"{size_bytes / 1024:,.1f} KiB"


def percent(fraction: float | None) -> str:
    return "not measured" if fraction is None else f"{fraction:.1%}"

"""The columns of the per-model results table, defined once: header (with unit), how to get the
value from a row, how to show it, and whether report.html can filter rows by it. A new column is
one entry in COLUMNS."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from collections.abc import Callable

from convbench.core.records import ArtifactRecord, BenchRun, LatencyResult, MemoryResult
from convbench.report.rows import eager_p50_ms, memory_of
from convbench.report.significance import AccuracyDifference, difference


@dataclass(frozen=True)
class RowView:
    """A latency row with what its columns look up elsewhere in the run."""

    row: LatencyResult
    artifact: ArtifactRecord | None    # sizes and sparsity of the file (manifest snapshot)
    fp32_accuracy: float | None        # the trained Keras model's held-out accuracy
    eager_p50_ms: float | None         # keras_eager, same model, device and batch
    memory: MemoryResult | None        # same artifact, runtime and device

    @classmethod
    def of(cls, run: BenchRun, row: LatencyResult) -> RowView:
        return cls(row, run.artifact(row), run.fp32_accuracy(row.model), eager_p50_ms(run, row), memory_of(run, row))

    @property
    def difference(self) -> AccuracyDifference | None:
        return difference(self.row, self.fp32_accuracy)


def number(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 1000 else f"{value:,.0f}"
    return str(value)


def signed(value: float) -> str:
    return f"{value:+.2f}"


@dataclass(frozen=True)
class Column:
    header: str
    value: Callable[[RowView], Any]    # None where the row has no such value
    show: Callable[[Any], str] = number
    missing: str = "–"
    filter: bool = False               # report.html offers a filter on this column's values

    def text(self, view: RowView) -> str:
        value = self.value(view)
        return self.missing if value is None else self.show(value)


def _pct(fraction: float | None) -> float | None:
    return None if fraction is None else fraction * 100


def _delta_pp(v: RowView) -> float | None:
    if v.row.accuracy is None or v.fp32_accuracy is None:
        return None
    return (v.row.accuracy - v.fp32_accuracy) * 100


def _p_value(v: RowView) -> str | None:
    diff = v.difference
    return None if diff is None else diff.p_text


def _peak_rss_mib(v: RowView) -> float | None:
    phase = v.memory.phase(v.row.batch) if v.memory else None
    return phase.peak_rss_mib if phase else None


def _artifact(get: Callable[[ArtifactRecord], Any]) -> Callable[[RowView], Any]:
    return lambda v: None if v.artifact is None else get(v.artifact)


COLUMNS: list[Column] = [
    Column("variant", lambda v: v.row.variant),
    Column("format", lambda v: v.row.format),
    Column("runtime", lambda v: v.row.runtime, filter=True),
    Column("device", lambda v: v.row.device, filter=True),
    Column("batch", lambda v: v.row.batch, filter=True),
    Column("threads", lambda v: v.row.threads_label, filter=True),
    Column("p50 (ms)", lambda v: v.row.stats.p50_ms),
    Column("p90 (ms)", lambda v: v.row.stats.p90_ms),
    Column("p99 (ms)", lambda v: v.row.stats.p99_ms),
    Column("throughput (items/s)", lambda v: v.row.stats.throughput_items_per_s),
    Column("peak RSS (MiB)", _peak_rss_mib),                    # fresh process, this batch
    Column("size (KiB)", _artifact(lambda a: a.bytes and a.bytes / 1024)),
    Column("gzip (KiB)", _artifact(lambda a: a.gzip_bytes and a.gzip_bytes / 1024)),
    Column("sparsity (%)", _artifact(lambda a: _pct(a.sparsity))),
    Column("accuracy (%)", lambda v: _pct(v.row.accuracy), missing="not measured"),
    Column("Δ vs fp32 (pp)", _delta_pp, signed),
    Column("McNemar p", _p_value, str),                          # * below 0.05: the difference is real
    Column("agreement (%)", lambda v: _pct(v.row.agreement_vs_fp32)),
    Column("speed-up vs keras_eager (×)", lambda v: v.eager_p50_ms and v.eager_p50_ms / v.row.stats.p50_ms),
    Column("compute (Gop/s, real-pixel)", lambda v: v.row.achieved_gflops),
    Column("of roof (%)", lambda v: _pct(v.row.fraction_of_roof)),
    Column("roof", lambda v: v.row.roof_name),
]

"""The report's charts as data, built once from a run: each chart is a list of typed points plus
which fields are its axes, series (colour) and panels (facet). report.md draws them as PNGs
(plots.py), report.html as interactive Vega-Lite (vega.py); both read the same points.

A point type's fields with a `title` (units included) are what a hover shows."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

from convbench.core.formats import family
from convbench.core.records import BenchRun
from convbench.report.rows import EAGER_RUNTIME, model_rows
from convbench.report.significance import difference
from convbench.core.formats import FP32_BASELINES, INT8_BASELINES, KERAS_FP32



def titled(title: str, **kw) -> Any:
    """A point field shown on hover and on axes as `title`."""
    return field(metadata={"title": title}, **kw)


@dataclass(frozen=True, kw_only=True)
class ArtifactPoint:
    """Which file: shown first on hover."""

    model: str = titled("model")
    variant: str = titled("variant")
    format: str = titled("format")


@dataclass(frozen=True, kw_only=True)
class RowPoint(ArtifactPoint):
    """Which file, and where a measured row ran it."""

    runtime: str = titled("runtime")
    threads: str = titled("threads")
    batch: int = titled("batch")

    @staticmethod
    def of(row) -> dict:
        return dict(model=row.model, variant=row.variant, format=row.format, runtime=row.runtime,
                    threads=row.threads_label, batch=row.batch)


@dataclass(frozen=True, kw_only=True)
class LatencyPoint(RowPoint):
    p50_ms: float = titled("p50 (ms)")
    p99_ms: float = titled("p99 (ms)")
    accuracy_pct: float = titled("accuracy (%)")
    delta_vs_fp32: str = titled("Δ vs fp32 (pp, McNemar p)")
    on_frontier: bool = False          # not shown: selects the Pareto line's points


@dataclass(frozen=True, kw_only=True)
class SizePoint(ArtifactPoint):
    family: str = titled("file type")
    size_kib: float = titled("size (KiB)")
    gzip_kib: float = titled("gzip size (KiB)")
    sparsity_pct: float | None = titled("sparsity (%)")
    accuracy_pct: float = titled("accuracy at build time (%)")


@dataclass(frozen=True, kw_only=True)
class Bar:
    """One bar: `label` names it on its axis, `series` colours it."""

    label: str = titled("bar")
    series: str = titled("series")
    value: float = titled("value")


@dataclass(frozen=True, kw_only=True)
class Line:
    """One point of a line (`series`) at x."""

    series: str = titled("series")
    x: float = titled("x")
    y: float = titled("y")


@dataclass(frozen=True, kw_only=True)
class RowBar(Bar, RowPoint):
    """A bar of a measured row (its where-and-how shown first on hover)."""


@dataclass(frozen=True, kw_only=True)
class RowLine(Line, RowPoint):
    """A point of a line through measured rows."""


@dataclass(frozen=True, kw_only=True)
class Curve(Line):
    """A training curve's point: no row behind it, a model's history."""

    model: str = titled("model")


@dataclass(frozen=True, kw_only=True)
class PipelineBar(Bar):
    batch: int = titled("batch")
    consumer_ms: float = titled("simulated train step (ms)")


@dataclass(frozen=True)
class Axis:
    field: str
    title: str                          # the axis title; also the field's title on hover
    log: bool = False
    categorical: bool = False


@dataclass
class Chart:
    name: str                           # figures/<name>.png beside report.md; the HTML element id
    caption: str
    mark: str                           # point | line | bar
    x: Axis
    y: Axis
    points: list
    missing: str                        # the line the report prints when there are no points
    color: str | None = None            # the series field (legend, toggled by clicking it)
    facet: str | None = "model"         # one panel per value
    frontier: bool = False              # a Pareto line through the points with on_frontier
    compact: bool = False               # small panels: it sits beside the first screen's table
    png: bytes | None = None            # drawn by plots.py for report.md

    @property
    def rows(self) -> list[dict]:
        return [asdict(p) for p in self.points]

    @property
    def tooltip(self) -> list[tuple[str, str]]:
        """(field, title) of every titled field, axes titled as on the axes."""
        if not self.points:
            return []
        axes = {self.x.field: self.x.title, self.y.field: self.y.title}
        return [(f.name, axes.get(f.name) or f.metadata["title"])
                for f in fields(self.points[0]) if "title" in f.metadata]

    def title_of(self, name: str) -> str:
        return dict(self.tooltip).get(name, name)


def pareto_front(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Points not beaten by another that is both faster (lower x) and more accurate (higher y)."""
    front, best_y = [], float("-inf")
    for x, y in sorted(points, key=lambda p: (p[0], -p[1])):
        if y > best_y:
            front.append((x, y))
            best_y = y
    return front


def latency_points(run: BenchRun, device: str) -> list[LatencyPoint]:
    """Batch-1 rows that measured accuracy: p50 against that row's own accuracy."""
    rows = [r for r in model_rows(run.latency) if r.device == device and r.batch == 1 and r.accuracy is not None]
    out = []
    for model in sorted({r.model for r in rows}):
        mine = [r for r in rows if r.model == model]
        front = set(pareto_front([(r.stats.p50_ms, r.accuracy * 100) for r in mine]))
        fp32 = run.fp32_accuracy(model)
        for r in mine:
            diff = difference(r, fp32)
            out.append(LatencyPoint(**RowPoint.of(r), p50_ms=r.stats.p50_ms, p99_ms=r.stats.p99_ms,
                                    accuracy_pct=r.accuracy * 100, delta_vs_fp32=diff.text() if diff else "–",
                                    on_frontier=(r.stats.p50_ms, r.accuracy * 100) in front))
    return out


def latency_chart(run: BenchRun, device: str) -> Chart:
    return Chart(f"latency_accuracy_{device}",
                 f"Latency vs accuracy on {device}, batch 1 (accuracy measured by each row); dashed: the Pareto "
                 "frontier", "point", Axis("p50_ms", "batch-1 p50 latency (ms, log)", log=True),
                 Axis("accuracy_pct", "held-out accuracy (%)"), latency_points(run, device),
                 f"no batch-1 latency row on {device} measured accuracy", color="runtime", frontier=True,
                 compact=True)


def size_chart(run: BenchRun) -> Chart:
    arts = [a for a in (run.manifest.artifacts if run.manifest else []) if a.ok and a.gzip_bytes
            and a.accuracy is not None]
    points = [SizePoint(model=a.model, variant=a.variant, format=a.format, family=family(a.format),
                        size_kib=a.bytes / 1024, gzip_kib=a.gzip_bytes / 1024,
                        sparsity_pct=None if a.sparsity is None else a.sparsity * 100, accuracy_pct=a.accuracy * 100)
              for a in arts]
    return Chart("size_accuracy", "Size vs accuracy (accuracy: each file's build-time verification)", "point",
                 Axis("gzip_kib", "gzip size (KiB, log)", log=True), Axis("accuracy_pct", "accuracy (%)"), points,
                 "no verified artifact with a gzip size" + _no_manifest(run), color="family")


def speedup_chart(run: BenchRun, top: int = 12) -> Chart:
    """Per model, the `top` fastest (variant, runtime) at batch 1 on the CPU against keras_eager."""
    rows = [r for r in run.latency if r.batch == 1 and r.device == "cpu"]
    base = {r.model: r.stats.p50_ms for r in rows if r.runtime == EAGER_RUNTIME}
    best: dict[tuple, Any] = {}
    for r in model_rows(rows):
        key = (r.model, r.variant, r.format, r.runtime)
        faster = key not in best or r.stats.p50_ms < best[key].stats.p50_ms
        if r.model in base and r.runtime != EAGER_RUNTIME and faster:
            best[key] = r
    points = []
    for model in sorted(base):
        mine = sorted((r for k, r in best.items() if k[0] == model), key=lambda r: r.stats.p50_ms)[:top]
        points += [RowBar(**RowPoint.of(r), label=f"{r.variant} {r.format} {r.runtime} t{r.threads_label}",
                            series=family(r.format), value=base[model] / r.stats.p50_ms) for r in mine]
    return Chart("speedup", f"Speed-up vs {EAGER_RUNTIME} at batch 1 (the {top} fastest per model)", "bar",
                 Axis("value", f"speed-up vs {EAGER_RUNTIME} (×)"),
                 Axis("label", "variant, format, runtime, threads", categorical=True), points,
                 f"no batch-1 CPU {EAGER_RUNTIME} row to compare with", color="series")


def memory_chart(run: BenchRun) -> Chart:
    points = []
    for m in sorted(run.of("memory"), key=lambda m: (m.model, m.runtime, m.format, m.variant)):
        for phase in m.phases[:1] + m.phases[1:][-1:]:   # the smallest and the largest batch
            points.append(RowBar(**{**RowPoint.of(m), "batch": phase.batch}, label=f"{m.variant} {m.runtime}",
                                   series=f"batch {phase.batch}", value=phase.peak_rss_mib))
    return Chart("memory", "Peak memory of a fresh process, smallest and largest batch", "bar",
                 Axis("value", "peak RSS of a fresh process (MiB)"),
                 Axis("label", "variant, runtime", categorical=True),
                 points,
                 "no memory rows in this run", color="series")


def learning_chart(run: BenchRun) -> Chart:
    points = []
    for t in sorted(run.manifest.trained if run.manifest else [], key=lambda t: t.name):
        for key, series in (("accuracy", "train"), ("val_accuracy", "validation")):
            points += [Curve(model=t.name, series=series, x=i + 1, y=v * 100)
                       for i, v in enumerate(t.history.get(key) or [])]
    return Chart("learning_curves", "Training curves (train vs validation)", "line", Axis("x", "epoch"),
                 Axis("y", "accuracy (%)"), points, "no training history" + _no_manifest(run), color="series")


def scaling_chart(run: BenchRun) -> Chart:
    points = [RowLine(**RowPoint.of(r), series=f"{r.model} {r.format} {r.runtime} b{r.batch}", x=r.side,
                      y=r.stats.p50_ms) for r in sorted(run.of("scaling_latency"), key=lambda r: r.side)]
    return Chart("scaling_side", "Latency vs input side (random weights)", "line",
                 Axis("x", "input side (pixels, log)", log=True), Axis("y", "p50 latency (ms, log)", log=True), points,
                 "no scaling rows in this run", color="series", facet=None)


def throughput_chart(run: BenchRun) -> Chart:
    """Baselines only, one thread (or the runtime's own): every variant would bury the trend."""
    rows = [r for r in model_rows(run.latency) if r.device == "cpu" and r.threads in (1, None)
            and r.variant in (KERAS_FP32, *FP32_BASELINES, *INT8_BASELINES)]
    series = {}
    for r in rows:
        series.setdefault((r.model, f"{r.variant} {r.runtime} t{r.threads_label}"), []).append(r)
    points = [RowLine(**RowPoint.of(r), series=name, x=r.batch, y=r.stats.throughput_items_per_s)
              for (_, name), rs in sorted(series.items()) if len(rs) > 1 for r in sorted(rs, key=lambda r: r.batch)]
    return Chart("scaling_batch", "Throughput vs batch (baselines, one thread)", "line",
                 Axis("x", "batch (log)", log=True), Axis("y", "items/s (log)", log=True), points,
                 "no baseline row was timed at more than one batch", color="series")


def pipeline_chart(run: BenchRun) -> Chart:
    points = [PipelineBar(label=r.label, series=r.pipeline, batch=r.batch, consumer_ms=r.consumer_ms,
                          value=r.images_per_s) for r in run.of("pipeline")]
    return Chart("pipeline", "tf.data throughput over the train split", "bar", Axis("value", "images/s"),
                 Axis("label", "pipeline", categorical=True), points, "no data-pipeline rows in this run",
                 color="series", facet=None)


def run_charts(run: BenchRun) -> list[Chart]:
    """Every chart of the run after the summary's Pareto charts (see latency_chart)."""
    return [size_chart(run), speedup_chart(run), memory_chart(run), learning_chart(run), scaling_chart(run),
            throughput_chart(run), pipeline_chart(run)]


def _no_manifest(run: BenchRun) -> str:
    return " (no manifest snapshot in the run folder)" if run.manifest is None else ""



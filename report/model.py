"""The report's data model, built once from a run, in reading order: what to ship on this machine
(summary + Pareto chart per device), the roofline, the notes, then the details (provenance,
per-model tables, the harness's overhead, per-layer tables, charts, the lessons drawn). The
templates render it; they compute nothing."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, UTC
from pathlib import Path

from convbench.core.records import PERCENTILE_METHOD, BenchRun, Recommendation
from convbench.report.charts import Chart, run_charts
from convbench.report.details import ModelSection, filter_options, harness_table, model_sections
from convbench.report.figures import Figure
from convbench.report.lessons import lesson_figures
from convbench.report.notes import Note, all_notes
from convbench.report.plots import draw
from convbench.report.post_training import PostTrainingPaths, post_training_paths
from convbench.report.recommend import DEFAULT_BUDGET_PP, recommend
from convbench.report.roofline import roofline_figures, roofs_section
from convbench.report.serving import (load_chart, notes_lines, server_table, serving_lines, serving_rows,
                                      single_stream_table)
from convbench.report.summary import DeviceSummary, device_summaries
from convbench.report.table import Cell, Table


@dataclass
class Part:
    """A section whose content another module provides (the roofline after the summary): None in
    the Report where that module has nothing."""

    title: str
    lines: list[str] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    charts: list[Chart] = field(default_factory=list)
    figures: list[Figure] = field(default_factory=list)


@dataclass
class Report:
    folder: Path                       # the run folder it is written into
    title: str
    machine: str                       # one line: where and when this was measured
    recommendation: Recommendation     # recommendation.json
    basis: str                         # how the summary picks its rows
    summaries: list[DeviceSummary]     # the first screen, one per device
    notes: list[Note]
    provenance: Table
    models: list[ModelSection]         # each with its per-layer tables and skipped techniques
    harness: Table | None              # the null runtime's rows
    filters: dict[str, list[str]]      # report.html's detail filters: column -> values
    charts: list[Chart]
    lessons: list[Figure]
    roofline: Part | None = None       # report/roofline.py: right after the summary
    post_training: PostTrainingPaths | None = None   # TFLite converter vs LiteRT Quantizer, in the details
    serving: Part | None = None        # report/serving.py: the LoadGen scenarios, after the roofline

    @property
    def parts(self) -> list[Part]:
        return [p for p in (self.roofline, self.serving) if p]

    @property
    def all_charts(self) -> list[Chart]:
        return [s.chart for s in self.summaries] + self.charts + [c for p in self.parts for c in p.charts]

    @property
    def pngs(self) -> list[tuple[str, bytes]]:
        """(name, PNG) of every drawn chart and figure: figures/<name>.png beside report.md."""
        figures = self.lessons + [f for p in self.parts for f in p.figures]
        return [(c.name, c.png) for c in self.all_charts if c.png] + [(f.name, f.png) for f in figures if f.png]


def build_model(run: BenchRun, accuracy_budget_pp: float = DEFAULT_BUDGET_PP) -> Report:
    rec = recommend(run, accuracy_budget_pp)
    models = model_sections(run)
    harness = harness_table(run)
    report = Report(
        folder=run.folder,
        title=f"convbench report — {run.folder.name}",
        machine=machine_line(run),
        recommendation=rec,
        basis=(f"Per device and model: the fp32 baseline (the fastest batch-1 row of a plain fp32 conversion), the "
               f"fastest batch-1 row and the smallest download whose accuracy, measured by that row's own runtime, "
               f"device and threads on the held-out split, is within {rec.accuracy_budget_pp:g} pp of the trained "
               "fp32 model's. Δ: that accuracy minus fp32's; p: exact McNemar test on the images where the two "
               "disagree (* below 0.05: a real difference; n/a: a run from before those images were recorded). "
               "Peak RSS: a fresh process that loads and runs the file. " + rec.tie_rule + " " + rec.size_rule),
        summaries=device_summaries(run, rec.accuracy_budget_pp),
        notes=all_notes(run, rec.accuracy_budget_pp),   # the same budget as the recommendation
        provenance=provenance(run),
        models=models,
        harness=harness,
        filters=filter_options([s.table for s in models] + ([harness] if harness else [])),
        charts=run_charts(run),
        lessons=lesson_figures(run),
        roofline=roofline_part(run),
        post_training=post_training_paths(run),
        serving=serving_part(run),
    )
    return report


def roofline_part(run: BenchRun) -> Part | None:
    """The Roofs table (every probe, start and end, which won) and one roofline figure per device."""
    if not (run.record.roofs.devices or run.record.roofs.not_measured):
        return None   # a run from before roofs were measured
    section = roofs_section(run)
    return Part("Roofline: this machine's measured roofs, and every row against its own", section.paragraphs,
                [section.table], figures=roofline_figures(run))


def serving_part(run: BenchRun) -> Part | None:
    """Requests per second within a p99 bound, LoadGen's SingleStream against the latency suite."""
    rows = serving_rows(run)
    if not rows:
        return None
    return Part("Serving: requests per second within a p99 bound (MLPerf LoadGen)",
                serving_lines(run, rows) + notes_lines(rows), [server_table(rows), single_stream_table(run, rows)],
                charts=[load_chart(rows)])


def draw_pngs(report: Report) -> None:
    """report.md's PNG of every chart (matplotlib: seconds, so only when the files are written)."""
    for chart in report.all_charts:
        chart.png = draw(chart)


def machine_line(run: BenchRun) -> str:
    rec, m = run.record, run.record.machine
    commit = f"commit {rec.git_commit[:10]}{' (dirty)' if rec.git_dirty else ''}" if rec.git_commit else "no git commit"
    return (f"Measured on {m.cpu_name}: {m.usable_cores} of {m.logical_cores} cores usable, {m.ram_gib} GiB RAM, "
            f"GPU: {m.gpu_name or 'none'}; {rec.started[:16].replace('T', ' ')} UTC, {commit}. Generated "
            f"{datetime.now(UTC).isoformat(timespec='seconds')} from {run.bench_path}; every number below "
            "was measured in this run.")


def provenance(run: BenchRun) -> Table:
    rec, m, manifest = run.record, run.record.machine, run.manifest
    flags = ", ".join(k for k, v in sorted(m.cpu_flags.items()) if v) or "none recorded"
    dataset = f"fingerprint {rec.dataset_fingerprint[:16]}…"
    if manifest:
        dataset = f"{manifest.dataset.name} — {dataset}, splits {manifest.dataset.split_sizes}"
    rows = [
        ("date", rec.started + (f" to {rec.finished}" if rec.finished else " (no finish time recorded)")),
        ("CPU", f"{m.cpu_name}; {m.usable_cores} usable of {m.logical_cores} logical cores; flags: {flags}"),
        ("RAM", f"{m.ram_gib} GiB"),
        ("GPU", m.gpu_name or "none"),
        ("roofs", rec.roofs.describe()),
        ("dataset", dataset),
        ("git commit", f"{rec.git_commit or 'unknown'}{' (dirty)' if rec.git_dirty else ''}"),
        ("libraries", ", ".join(f"{k} {v}" for k, v in sorted(rec.versions.items())) or "–"),
        ("runtimes", ", ".join(f"{k} {v}" for k, v in sorted(rec.runtime_versions.items())) or "–"),
        ("manifest", f"snapshot in the run folder, created {manifest.created}" if manifest
         else "no manifest snapshot in the run folder: sizes, fp32 accuracy and training curves are missing"),
        ("skipped / failed", f"{len(rec.skipped)} skipped, {len(rec.failed)} failed benchmark(s)"),
        ("percentiles", f"numpy method {PERCENTILE_METHOD!r} over the raw per-round samples"),
    ]
    return Table(["", ""], [[Cell(k), Cell(str(v))] for k, v in rows])

"""The report's data model, built once from a run: provenance, recommendation, notes, figures
and the per-model tables. The templates render it; they compute nothing."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone

from convbench.records import PERCENTILE_METHOD, BenchRun, Recommendation
from convbench.report.columns import COLUMNS, RowView
from convbench.report.figures import Figure
from convbench.report.layers import LayerSection, layer_sections
from convbench.report.lessons import lesson_figures
from convbench.report.notes import Note, all_notes
from convbench.report.plots import run_figures
from convbench.report.recommend import recommend, recommendation_lines
from convbench.report.post_training import PostTrainingPaths, post_training_paths, skipped_table
from convbench.report.roofline import RoofsSection, roofline_figures, roofs_section
from convbench.report.rows import roofs
from convbench.report.tables import Cell, Table, number_or_text


@dataclass
class ModelSection:
    model: str
    summary: str
    table: Table
    layers: list[LayerSection] = field(default_factory=list)   # per-layer latency and error (report/layers.py)
    skipped: Table | None = None       # techniques that cannot apply to this model, and why


@dataclass
class Report:
    title: str
    intro: str
    provenance: Table
    recommendation: Recommendation
    recommendation_basis: str
    recommendation_lines: list[str]
    notes: list[Note]
    figures: list[Figure]
    models: list[ModelSection] = field(default_factory=list)
    roofs: RoofsSection | None = None                          # report/roofline.py
    post_training: PostTrainingPaths | None = None             # TFLite converter vs LiteRT Quantizer


def build_model(run: BenchRun, accuracy_budget_pp: float = 1.0) -> Report:
    rec = recommend(run, accuracy_budget_pp)
    generated = datetime.now(timezone.utc).isoformat(timespec="seconds")
    return Report(
        title=f"convbench report — {run.folder.name}",
        intro=f"Generated {generated} from {run.bench_path}. Every number below was measured in this run. "
              "Click a column header (HTML) to sort.",
        provenance=provenance(run),
        recommendation=rec,
        recommendation_basis=(
            f"Per device and model: the fastest batch-1 row and the smallest artifact whose accuracy, measured by "
            f"that row's own runtime, device and threads on the held-out split, is within "
            f"{rec.accuracy_budget_pp:g} pp of the trained fp32 model's. Rows that measured no accuracy are not "
            "recommended."),
        recommendation_lines=recommendation_lines(rec),
        notes=all_notes(run),
        figures=run_figures(run) + roofline_figures(run) + lesson_figures(run),
        models=[model_section(run, m) for m in sorted({r.model for r in run.latency})],
        roofs=roofs_section(run),
        post_training=post_training_paths(run),
    )


def results_table(run: BenchRun, model: str) -> Table:
    rows = sorted((r for r in run.latency if r.model == model),
                  key=lambda r: (r.device, r.batch, r.stats.p50_ms, r.label))
    views = [RowView.of(run, r) for r in rows]
    return Table([c.header for c in COLUMNS],
                 [[Cell(c.text(v), number_or_text(c.value(v))) for c in COLUMNS] for v in views], sortable=True)


def model_section(run: BenchRun, model: str) -> ModelSection:
    fp32 = run.fp32_accuracy(model)
    unmeasured = [r for r in run.latency if r.model == model and r.accuracy is None]
    summary = ("fp32 yardstick: the trained Keras model's held-out accuracy "
               + ("unknown (no manifest snapshot)" if fp32 is None else f"{fp32:.2%}") + ". "
               "Accuracy is measured by each row's own runtime, device and threads; sizes and sparsity are "
               "the artifact file's.")
    if unmeasured:
        reasons = sorted({r.accuracy_note or "no reason recorded" for r in unmeasured})
        summary += f" {len(unmeasured)} row(s) did not measure accuracy: " + "; ".join(reasons) + "."
    return ModelSection(model, summary, results_table(run, model), layer_sections(run, model),
                        skipped_table(run, model))


def provenance(run: BenchRun) -> Table:
    rec, m, manifest = run.record, run.record.machine, run.manifest
    flags = ", ".join(k for k, v in sorted(m.cpu_flags.items()) if v) or "none recorded"
    dataset = f"fingerprint {rec.dataset_fingerprint[:16]}…"
    if manifest:
        dataset = f"{manifest.dataset.name} — {dataset}, splits {manifest.dataset.split_sizes}"
    rows = [
        ("date", rec.started + (f" to {rec.finished}" if rec.finished else " (no finish time recorded)")),
        ("CPU", f"{m.cpu_model} ({m.usable_cores} usable of {m.logical_cores} logical cores; flags: {flags})"),
        ("RAM", f"{m.ram_gib} GiB"),
        ("GPU", m.gpu_name or "none"),
        ("roofs", roofs(rec.roofs)),
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

"""The report's detail tables: every latency row of a model (columns.py) with its per-layer tables
(layers.py) and the techniques that could not apply to it, the harness's own overhead (the null
runtime's rows) in a small table of its own, and the values report.html offers to filter them by."""

from __future__ import annotations

from dataclasses import dataclass, field

from convbench.core.records import BenchRun
from convbench.report.columns import COLUMNS, RowView
from convbench.report.layers import LayerSection, layer_sections
from convbench.report.post_training import skipped_table
from convbench.report.rows import NULL_RUNTIME, model_rows
from convbench.report.table import Cell, Table, number_or_text

HARNESS_HEADERS = ["model", "device", "batch", "threads", "p50 (µs)", "p99 (µs)", "rounds"]


@dataclass
class ModelSection:
    model: str
    summary: str
    table: Table
    layers: list[LayerSection] = field(default_factory=list)   # per-layer latency and error (layers.py)
    skipped: Table | None = None       # techniques that cannot apply to this model, and why


def results_table(run: BenchRun, model: str) -> Table:
    rows = sorted((r for r in model_rows(run.latency) if r.model == model),
                  key=lambda r: (r.device, r.batch, r.stats.p50_ms, r.label))
    views = [RowView.of(run, r) for r in rows]
    return Table([c.header for c in COLUMNS],
                 [[Cell(c.text(v), number_or_text(c.value(v))) for c in COLUMNS] for v in views], sortable=True,
                 filters={c.header: i for i, c in enumerate(COLUMNS) if c.filter})


def model_section(run: BenchRun, model: str) -> ModelSection:
    fp32 = run.fp32_accuracy(model)
    unmeasured = [r for r in model_rows(run.latency) if r.model == model and r.accuracy is None]
    summary = ("fp32 yardstick: the trained Keras model's held-out accuracy "
               + ("unknown (no manifest snapshot)" if fp32 is None else f"{fp32:.2%}") + ". "
               "Accuracy is measured by each row's own runtime, device and threads; sizes and sparsity are "
               "the artifact file's. McNemar p: exact test on the images where the row and fp32 disagree "
               "(* below 0.05).")
    if unmeasured:
        reasons = sorted({r.accuracy_note or "no reason recorded" for r in unmeasured})
        summary += f" {len(unmeasured)} row(s) did not measure accuracy: " + "; ".join(reasons) + "."
    return ModelSection(model, summary, results_table(run, model), layer_sections(run, model),
                        skipped_table(run, model))


def model_sections(run: BenchRun) -> list[ModelSection]:
    return [model_section(run, m) for m in sorted({r.model for r in model_rows(run.latency)})]


def harness_table(run: BenchRun) -> Table | None:
    """The null runtime's rows: what timing a constant output costs (the floor of every p50)."""
    rows = sorted((r for r in run.latency if r.runtime == NULL_RUNTIME),
                  key=lambda r: (r.model, r.device, r.batch, r.threads_label))
    if not rows:
        return None
    return Table(HARNESS_HEADERS, [[Cell(r.model), Cell(r.device), Cell(str(r.batch)), Cell(r.threads_label),
                                    Cell(f"{r.stats.p50_ms * 1e3:.2f}"), Cell(f"{r.stats.p99_ms * 1e3:.2f}"),
                                    Cell(str(r.rounds))] for r in rows],
                 filters={h: HARNESS_HEADERS.index(h) for h in ("device", "batch", "threads")})


def filter_options(tables: list[Table]) -> dict[str, list[str]]:
    """Every value of every filterable column, in a natural order (batch 8 before 32)."""
    values: dict[str, set[str]] = {}
    for table in tables:
        for row in table.rows:
            for name, text in table.filter_values(row).items():
                values.setdefault(name, set()).add(text)
    return {name: sorted(vals, key=lambda v: (not v.isdigit(), int(v) if v.isdigit() else 0, v))
            for name, vals in sorted(values.items(), key=lambda kv: _FILTER_ORDER.get(kv[0], 9))}


_FILTER_ORDER = {"runtime": 0, "device": 1, "batch": 2, "threads": 3}

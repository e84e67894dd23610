"""`convbench report RUN`: report.md (PNG figures beside it), a self-contained report.html
(interactive charts and their script embedded, no network needed) and recommendation.json in the
run folder, all from the run's measurements."""

from __future__ import annotations

from pathlib import Path

from convbench.core.fsutil import write_bytes_atomic
from convbench.core.records import RECOMMENDATION_FILE, load_run, write_record
from convbench.report.model import Report, build_model, draw_pngs
from convbench.report.recommend import DEFAULT_BUDGET_PP
from convbench.report.render import FIGURES_DIR, render


def build_report(run_dir: Path, accuracy_budget_pp: float = DEFAULT_BUDGET_PP) -> Path:
    """Write the reports into the run folder; returns the path of report.html."""
    return write_report(run_dir, accuracy_budget_pp).folder / "report.html"


def write_report(run_dir: Path, accuracy_budget_pp: float = DEFAULT_BUDGET_PP) -> Report:
    """Write the reports into the run folder; returns their data model. A run folder without
    its manifest snapshot is refused (a report without sizes and fp32 accuracies would be half
    a report that looks whole)."""
    run = load_run(run_dir, require_manifest=True)
    report = build_model(run, accuracy_budget_pp)
    draw_pngs(report)
    out = run.folder
    write_record(out / RECOMMENDATION_FILE, report.recommendation)
    for name, png in report.pngs:
        write_bytes_atomic(out / FIGURES_DIR / f"{name}.png", png)
    write_bytes_atomic(out / "report.md", render(report, "markdown").encode())
    write_bytes_atomic(out / "report.html", render(report, "html").encode())
    return report

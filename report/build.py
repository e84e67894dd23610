"""`convbench report RUN`: report.md + a self-contained report.html (figures embedded) and
recommendation.json in the run folder, all from the run's measurements."""

from __future__ import annotations

from pathlib import Path

from convbench.fsutil import write_bytes_atomic
from convbench.records import RECOMMENDATION_FILE, load_run, write_record
from convbench.report.model import build_model
from convbench.report.render import FIGURES_DIR, render


def build_report(run_dir: Path, accuracy_budget_pp: float = 1.0) -> Path:
    """Write the reports into the run folder; returns the path of report.html. A run folder
    without its manifest snapshot is refused (a report without sizes and fp32 accuracies would
    be half a report that looks whole)."""
    run = load_run(run_dir, require_manifest=True)
    report = build_model(run, accuracy_budget_pp)
    out = run.folder
    write_record(out / RECOMMENDATION_FILE, report.recommendation)
    for figure in report.figures:
        if figure.png:
            write_bytes_atomic(out / FIGURES_DIR / f"{figure.name}.png", figure.png)
    write_bytes_atomic(out / "report.md", render(report, "markdown").encode())
    write_bytes_atomic(out / "report.html", render(report, "html").encode())
    return out / "report.html"

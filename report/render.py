"""Render the report's data model through the one template (templates/report.j2) into Markdown
or HTML; the per-format macro files are the only place the two outputs differ."""

from __future__ import annotations

from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from convbench.report.model import Report
from convbench.report.vega import inline_script, spec_json

TEMPLATES = Path(__file__).parent / "templates"
FORMATS = ("markdown", "html")
FIGURES_DIR = "figures"   # report.md links figures/<name>.png beside it; report.html draws charts itself


def render(report: Report, fmt: str) -> str:
    if fmt not in FORMATS:
        raise ValueError(f"unknown report format {fmt!r}; valid: {', '.join(FORMATS)}")
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=fmt == "html", trim_blocks=True,
                      lstrip_blocks=True, keep_trailing_newline=True, undefined=StrictUndefined)
    env.globals["figures_dir"] = FIGURES_DIR
    env.filters["vega_spec"] = spec_json
    # The charts' script only where a chart is drawn: a page without one stays small.
    env.globals["vega_script"] = inline_script() if fmt == "html" and any(c.points for c in report.all_charts) else ""
    return env.get_template("report.j2").render(report=report, fmt=fmt).rstrip("\n") + "\n"

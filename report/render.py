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


def _environment(fmt: str, charts: bool) -> Environment:
    if fmt not in FORMATS:
        raise ValueError(f"unknown report format {fmt!r}; valid: {', '.join(FORMATS)}")
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=fmt == "html", trim_blocks=True,
                      lstrip_blocks=True, keep_trailing_newline=True, undefined=StrictUndefined)
    env.globals["figures_dir"] = FIGURES_DIR
    env.filters["vega_spec"] = spec_json
    # The charts' script only where a chart is drawn: a page without one stays small.
    env.globals["vega_script"] = inline_script() if fmt == "html" and charts else ""
    return env


def render(report: Report, fmt: str) -> str:
    env = _environment(fmt, any(c.points for c in report.all_charts))
    return env.get_template("report.j2").render(report=report, fmt=fmt).rstrip("\n") + "\n"


def render_page(template: str, fmt: str, **context) -> str:
    """Another page through the same per-format macros (no charts): e.g. the cross-machine report."""
    return _environment(fmt, False).get_template(template).render(fmt=fmt, **context).rstrip("\n") + "\n"

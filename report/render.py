"""Render the report's data model through the one template (templates/report.j2) into Markdown
or HTML; the per-format macro files are the only place the two outputs differ."""

from __future__ import annotations

from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from convbench.report.model import Report

TEMPLATES = Path(__file__).parent / "templates"
FORMATS = ("markdown", "html")
FIGURES_DIR = "figures"   # report.md links figures/<name>.png beside it; report.html embeds them


def render(report: Report, fmt: str) -> str:
    if fmt not in FORMATS:
        raise ValueError(f"unknown report format {fmt!r}; valid: {', '.join(FORMATS)}")
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=fmt == "html", trim_blocks=True,
                      lstrip_blocks=True, keep_trailing_newline=True, undefined=StrictUndefined)
    env.globals["figures_dir"] = FIGURES_DIR
    return env.get_template("report.j2").render(report=report, fmt=fmt).rstrip("\n") + "\n"

"""report.md's PNGs: one matplotlib drawing for every chart of charts.py, read from the same
points report.html's interactive charts show. Every point is a measured row of this run;
nothing is interpolated."""

from __future__ import annotations

import numpy as np
from matplotlib.ticker import NullFormatter

from convbench.report.charts import Chart
from convbench.report.figures import png, subplots


def draw(chart: Chart) -> bytes | None:
    """The chart as PNG bytes; None when it has no points (the report prints chart.missing)."""
    if not chart.points:
        return None
    panels = sorted({getattr(p, chart.facet) for p in chart.points}) if chart.facet else [None]
    labels = len({getattr(p, chart.y.field) for p in chart.points}) if chart.mark == "bar" else 0
    height = max(3.4, 0.16 * labels + 1.2)
    fig, axes = subplots(1, len(panels), figsize=(max(4.5, 3.9 * len(panels)), height), squeeze=False)
    fig.subplots_adjust(wspace=0.9 if chart.mark == "bar" else 0.35)
    for panel, ax in zip(panels, axes[0]):
        mine = [p for p in chart.points if chart.facet is None or getattr(p, chart.facet) == panel]
        series = sorted({getattr(p, chart.color) for p in mine}) if chart.color else [None]
        (_bars if chart.mark == "bar" else _marks)(ax, chart, mine, series)
        if chart.frontier:
            front = sorted((getattr(p, chart.x.field), getattr(p, chart.y.field)) for p in mine if p.on_frontier)
            # x markers: a frontier of one point (fastest is also most accurate) shows too
            ax.plot(*zip(*front), "k--x", lw=1, ms=6, label="Pareto frontier")
        _axes(ax, chart, panel)
    axes[0][0].legend(fontsize=6)
    fig.suptitle(chart.caption, fontsize=10)
    return png(fig)


def _marks(ax, chart: Chart, points: list, series: list) -> None:
    for s in series:
        mine = sorted((getattr(p, chart.x.field), getattr(p, chart.y.field)) for p in points
                       if s is None or getattr(p, chart.color) == s)
        if chart.mark == "line":
            ax.plot(*zip(*mine), marker=".", lw=1, label=s)
        else:
            ax.scatter(*zip(*mine), s=14, alpha=0.8, label=s)


def _bars(ax, chart: Chart, points: list, series: list) -> None:
    """Horizontal bars, one row per label (first seen first, from the top), one bar per series."""
    labels = list(dict.fromkeys(getattr(p, chart.y.field) for p in points))
    y = np.arange(len(labels))
    height = 0.8 / len(series)
    for i, s in enumerate(series):
        mine = [p for p in points if s is None or getattr(p, chart.color) == s]
        rows = [labels.index(getattr(p, chart.y.field)) for p in mine]
        ax.barh(y[rows] + (i - (len(series) - 1) / 2) * height, [getattr(p, chart.x.field) for p in mine],
                height=height, label=s)
    ax.set_yticks(y, labels, fontsize=6)
    ax.invert_yaxis()


def _axes(ax, chart: Chart, panel: str | None) -> None:
    if chart.x.log:
        ax.set_xscale("log")
        ax.xaxis.set_minor_formatter(NullFormatter())  # minor log labels overlap at this width
    if chart.y.log:
        ax.set_yscale("log")
    ax.set_xlabel(chart.x.title, fontsize=8)
    if chart.mark != "bar":
        ax.set_ylabel(chart.y.title, fontsize=8)
    if panel is not None:
        ax.set_title(panel, fontsize=9)

"""report.html's interactive charts: a Vega-Lite spec for every chart of charts.py (hover shows a
point's row and numbers; a click on a legend entry picks that series or drops it again),
and the Vega/Vega-Lite/vega-embed script, embedded in the page so it opens with no network.

Why Vega-Lite and not Plotly: plotly.py 7.1 ships only plotly.js's full bundle, 4.8 MB, which
alone nearly fills the page's 5 MB budget; vl-convert (the Vega project's own converter, a PyPI
wheel) bundles Vega + Vega-Lite + vega-embed into 0.9 MB with no download."""

from __future__ import annotations

import functools
import json
import os
from pathlib import Path

from convbench.core.fsutil import write_bytes_atomic
from convbench.report.charts import Axis, Chart

# (columns of panels, panel width, height): the first screen's chart sits beside its table;
# bar panels carry their labels (up to ~260 px) beside them
COMPACT, WIDE, BARS, SINGLE = (2, 175, 150), (4, 245, 180), (2, 300, 0), (1, 620, 300)
BAR_STEP_PX = 13                       # per bar row: bars are as tall as their labels
FADED_OPACITY = 0.07                  # series not picked in the legend
SERIES_PARAM = "series"


def _axis(axis: Axis, chart: Chart) -> dict:
    enc = {"field": axis.field, "title": axis.title,
           "type": "nominal" if axis.categorical else "quantitative"}
    if axis.log:
        enc["scale"] = {"type": "log", "nice": False, "padding": 8}   # the data's extent, not 10..1000
        # 1-2-5 labels crowd a narrow panel: drop those that would touch
        enc["axis"] = {"format": "~g", "labelOverlap": "greedy", "labelSeparation": 6}
    elif not axis.categorical and chart.mark != "bar":
        enc["scale"] = {"zero": False}
    if axis.categorical:
        enc["sort"] = None             # the order charts.py gives: fastest first
        enc["axis"] = {"labelLimit": 260, "labelFontSize": 9}
    return enc


def _tip(chart: Chart, name: str, title: str) -> dict:
    """A hover line; measured floats shown to 4 significant digits (0.4078, not 0.40784000000000004)."""
    if isinstance(getattr(chart.points[0], name), float):
        return {"field": name, "title": title, "type": "quantitative", "format": ".4~g"}
    return {"field": name, "title": title}


def _points_layer(chart: Chart) -> dict:
    enc = {"x": _axis(chart.x, chart), "y": _axis(chart.y, chart),
           "tooltip": [_tip(chart, f, t) for f, t in chart.tooltip]}
    params = []
    if chart.color:
        enc["color"] = {"field": chart.color, "type": "nominal", "title": chart.title_of(chart.color)}
        if len({getattr(p, chart.color) for p in chart.points}) > 10:   # category10 would repeat colours
            enc["color"]["scale"] = {"scheme": "tableau20"}
        enc["opacity"] = {"condition": {"param": SERIES_PARAM, "value": 0.9}, "value": FADED_OPACITY}
        # toggle: each click on a legend entry adds or removes that series; none picked shows all
        params = [{"name": SERIES_PARAM, "select": {"type": "point", "fields": [chart.color], "toggle": "true"},
                   "bind": "legend"}]
        if chart.mark == "bar" and _grouped(chart):
            enc["yOffset"] = {"field": chart.color}
    mark = {"point": {"type": "point", "filled": True, "size": 45},
            "line": {"type": "line", "point": True, "strokeWidth": 1.5},
            "bar": {"type": "bar"}}[chart.mark]
    if chart.mark == "line":
        enc["detail"] = {"field": chart.color}
        enc["order"] = {"field": chart.x.field}
    return {"params": params, "mark": mark, "encoding": enc}


def _grouped(chart: Chart) -> bool:
    """Some label has bars of more than one series (memory: smallest and largest batch)."""
    seen: dict[tuple, str] = {}
    for p in chart.points:
        where = (getattr(p, chart.facet) if chart.facet else None, getattr(p, chart.y.field))
        if seen.setdefault(where, getattr(p, chart.color)) != getattr(p, chart.color):
            return True
    return False


def _frontier_layer(chart: Chart) -> dict:
    return {"transform": [{"filter": "datum.on_frontier"}],
            "mark": {"type": "line", "color": "black", "strokeDash": [4, 3], "strokeWidth": 1},
            "encoding": {"x": _axis(chart.x, chart), "y": _axis(chart.y, chart), "order": {"field": chart.x.field}}}


def spec(chart: Chart) -> dict:
    """A Vega-Lite spec with the chart's points inlined: one panel per facet value."""
    layers = [_points_layer(chart)] + ([_frontier_layer(chart)] if chart.frontier else [])
    unit = {"layer": layers} if len(layers) > 1 else layers[0]
    columns, width, height = (COMPACT if chart.compact else SINGLE if not chart.facet
                              else BARS if chart.mark == "bar" else WIDE)
    size = {"width": width, "height": height}
    if chart.mark == "bar":   # a band per label, split between the series where a label has several
        size["height"] = {"step": BAR_STEP_PX * (2 if _grouped(chart) else 1)}
    body = ({"facet": {"field": chart.facet, "type": "nominal", "title": None}, "columns": columns,
             "spec": {**unit, **size}, "resolve": {"scale": {"x": "independent", "y": "independent"}}}
            if chart.facet else {**unit, **size})
    return {"$schema": "https://vega.github.io/schema/vega-lite/v6.json", "data": {"values": chart.rows},
            "config": {"font": "system-ui, sans-serif",
                       "legend": {"labelLimit": 260, "orient": "bottom", "columns": 3}},
            **body}


def spec_json(chart: Chart) -> str:
    """For a <script type="application/json"> element: "</" escaped so the page's parser never
    sees a closing tag inside it."""
    return json.dumps(spec(chart), separators=(",", ":"), allow_nan=False).replace("</", "<\\/")


@functools.lru_cache(maxsize=1)
def script() -> str:
    """Vega, Vega-Lite and vega-embed as one script (window.vegaEmbed). Bundling takes ~5 s, so
    it is cached per vl-convert version under the user's cache folder."""
    from importlib.metadata import version

    import vl_convert

    cache = _cache_dir() / f"vega-embed-vl-convert-{version('vl-convert-python')}.js"
    try:
        return cache.read_text(encoding="utf-8")
    except OSError:
        pass
    bundle = vl_convert.javascript_bundle()
    try:
        write_bytes_atomic(cache, bundle.encode("utf-8"))
    except OSError:
        pass                           # a read-only home: bundle again next time
    return bundle


def inline_script() -> str:
    """script(), safe inside <script>…</script>."""
    return script().replace("</script", "<\\/script")


def _cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "convbench"

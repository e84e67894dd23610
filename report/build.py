"""`convbench report RUN`: report.md + a self-contained report.html (figures embedded) and
recommendation.json, all from the run's measurements."""

from __future__ import annotations

import base64
import html
import json
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from convbench.fsutil import write_bytes_atomic, write_json_atomic
from convbench.report import notes as notes_mod
from convbench.report import plots
from convbench.report.results import Run, load_run


@dataclass
class Figure:
    name: str
    caption: str
    png: bytes


@dataclass
class Table:
    headers: list[str]
    rows: list[list]


def _fmt(value, digits: int = 3) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}g}" if abs(value) < 1000 else f"{value:,.0f}"
    return str(value)


def provenance(run: Run) -> Table:
    s = run.session
    m = s.get("machine", {})
    ds = s.get("dataset", {})
    peak = s.get("sgemm_peak_gflops", {})
    rows = [
        ["date", s.get("started", run.bench.get("datetime"))],
        ["CPU", f"{m.get('cpu_model')} ({m.get('usable_cores')} usable cores, flags: "
                + ", ".join(k for k, v in m.get("cpu_flags", {}).items() if v) + ")"],
        ["RAM", f"{m.get('ram_gib')} GiB"],
        ["GPU", m.get("gpu_name") or "none"],
        ["SGEMM peak", ", ".join(f"{t} thread(s): {g:.1f} GFLOP/s" for t, g in sorted(peak.items())) or "–"],
        ["dataset", f"{ds.get('name')} — fingerprint {str(ds.get('fingerprint'))[:16]}…, splits {ds.get('split_sizes')}"],
        ["git commit", f"{s.get('git', {}).get('commit')} {'(dirty)' if s.get('git', {}).get('dirty') else ''}"],
        ["libraries", ", ".join(f"{k} {v}" for k, v in sorted(s.get("versions", {}).items()))],
        ["manifest", f"{s.get('manifest', {}).get('path')} ({s.get('manifest', {}).get('created')})"],
    ]
    return Table(["", ""], rows)


def results_table(run: Run, model: str) -> Table:
    lat = [r for r in run.of("latency") if r["model"] == model]
    fp32 = next((a["accuracy"] for a in (run.manifest or {}).get("artifacts", [])
                 if a["model"] == model and a["variant"] == "keras_fp32"), None)
    eager = {(r["batch"], r["device"]): r["p50_ms"] for r in lat if r["runtime"] == "keras_eager"}
    memory = {(r["variant"], r["format"], r["runtime"]): r for r in run.of("memory") if r["model"] == model}
    rows = []
    for r in sorted(lat, key=lambda r: (r["device"], r["batch"], r["p50_ms"])):
        mem = memory.get((r["variant"], r["format"], r["runtime"]), {})
        peak = mem.get("b1_peak_rss_mib") if r["batch"] == 1 else mem.get("peak_rss_mib")
        speedup = eager.get((r["batch"], r["device"]))
        rows.append([
            r["variant"], r["format"], r["runtime"], r["device"], r["batch"], r["threads"],
            r["p50_ms"], r["p90_ms"], r["p99_ms"], r["throughput_items_per_s"], peak,
            r.get("bytes"), r.get("gzip_bytes"),
            None if r.get("accuracy") is None else r["accuracy"] * 100,
            None if r.get("accuracy") is None or fp32 is None else (r["accuracy"] - fp32) * 100,
            None if r.get("agreement_vs_fp32") is None else r["agreement_vs_fp32"] * 100,
            None if not speedup else speedup / r["p50_ms"],
            r.get("achieved_gflops"), None if r.get("fraction_of_peak") is None else r["fraction_of_peak"] * 100,
        ])
    return Table(["variant", "format", "runtime", "device", "batch", "threads", "p50 ms", "p90 ms", "p99 ms",
                  "items/s", "peak MiB", "bytes", "gzip bytes", "accuracy %", "Δ vs fp32 pp", "agree %",
                  "speedup vs eager", "GFLOP/s", "% of peak"], rows)


def recommend(run: Run, budget_pp: float) -> dict:
    """Per device and model: the fastest (batch-1 p50) and the smallest (bytes) artifact whose
    deployed accuracy is within `budget_pp` of the fp32 model's."""
    arts = (run.manifest or {}).get("artifacts", [])
    out: dict = {"accuracy_budget_pp": budget_pp, "devices": {}}
    lat = [r for r in run.of("latency") if r.get("accuracy") is not None and r["runtime"] != "null"]
    for device in sorted({r["device"] for r in lat}):
        per_model = {}
        for model in sorted({r["model"] for r in lat}):
            fp32 = next((a["accuracy"] for a in arts if a["model"] == model and a["variant"] == "keras_fp32"), None)
            if fp32 is None:
                continue
            ok = [r for r in lat if r["model"] == model and r["device"] == device and (fp32 - r["accuracy"]) * 100 <= budget_pp]
            b1 = [r for r in ok if r["batch"] == 1]
            if not b1:
                continue
            fastest = min(b1, key=lambda r: r["p50_ms"])
            smallest = min((r for r in ok if r.get("bytes")), key=lambda r: r["bytes"], default=None)
            per_model[model] = {
                "fp32_accuracy": fp32,
                "fastest": {k: fastest.get(k) for k in ("variant", "format", "runtime", "threads", "p50_ms", "accuracy", "bytes")},
                "smallest": None if smallest is None else {k: smallest.get(k) for k in ("variant", "format", "bytes", "gzip_bytes", "accuracy")},
            }
        out["devices"][device] = per_model
    return out


def histories(run: Run) -> dict[str, dict]:
    found = {}
    for a in (run.manifest or {}).get("artifacts", []):
        if a["variant"] == "keras_fp32":
            path = Path(a["path"]).parent / "history.json"
            if path.exists():
                found[a["model"]] = json.loads(path.read_text())
    return found


def lesson_figures(run: Run) -> list[Figure]:
    """Lessons 2-4 on a real test image, with lesson 5's and lesson 4's trained first layers."""
    from convbench.models.data import Dataset
    from convbench.report import lessons
    from convbench.tfsetup import keras

    arts = {a["model"]: a for a in (run.manifest or {}).get("artifacts", []) if a["variant"] == "keras_fp32"}
    fingerprint = (run.manifest or {}).get("dataset", {}).get("fingerprint")
    data_dir = Path(run.session.get("manifest", {}).get("path", "artifacts/manifest.json")).parent / "data"
    dataset = next((d for d in map(Dataset.load, sorted(data_dir.glob("*.npz"))) if d.fingerprint == fingerprint), None)
    if dataset is None or not arts:
        return []
    image = dataset.x_test[0]
    figures = []
    for model_name, lesson in (("lesson5_custom", "lessons 2-3"), ("lesson4_strided", "lesson 4")):
        if model_name not in arts:
            continue
        conv = lessons.first_conv(keras.models.load_model(arts[model_name]["path"]))
        figures.append(Figure(f"kernels_{model_name}", f"Trained first-layer kernels of {model_name}",
                              lessons.kernels_figure(conv, f"{model_name}: first Conv2D kernels (trained)")))
        if lesson == "lessons 2-3":
            figures.append(Figure("feature_maps", "Lessons 2-3: filter (convolution), detect (ReLU), condense (max pool)",
                                  lessons.feature_maps_figure(conv, image, f"{model_name}, test image of class {dataset.class_names[dataset.y_test[0]]}")))
        else:
            figures.append(Figure("stride", "Lesson 4: the same kernel with stride 1, 2, 3 and 'same'/'valid' padding",
                                  lessons.stride_figure(conv, image, f"{model_name}: first kernel slid with different strides")))
    return figures


def build_report(run_dir: Path, accuracy_budget_pp: float = 1.0) -> Path:
    run = load_run(run_dir)
    hist = histories(run)
    lat = run.of("latency")
    figures = [f for f in [
        *(Figure(f"latency_accuracy_{d}", f"Latency vs accuracy on {d}, Pareto frontier dashed", png)
          for d in sorted({r["device"] for r in lat}) for png in [plots.latency_vs_accuracy(lat, d)] if png),
        Figure("size_accuracy", "Size vs accuracy", plots.size_vs_accuracy((run.manifest or {}).get("artifacts", []))),
        Figure("speedup", "Speedup vs keras_eager at batch 1", plots.speedup_bars(lat)),
        Figure("memory", "Peak memory of a fresh process, batch 1 and largest batch", plots.memory_bars(run.of("memory"))),
        Figure("learning_curves", "Training curves", plots.learning_curves(hist)),
        Figure("scaling_side", "Latency vs input side", plots.scaling_plot(run.of("scaling"))),
        Figure("scaling_batch", "Throughput vs batch", plots.batch_plot(lat)),
        Figure("pipeline", "tf.data throughput", plots.pipeline_bars(run.of("pipeline"))),
    ] if f.png]
    figures += lesson_figures(run)
    notes = [notes_mod.model_compression(run), notes_mod.memory_optimization(run),
             notes_mod.accelerator_utilization(run), notes_mod.hardware_optimization(run),
             notes_mod.data_pipeline(run), notes_mod.model_parameter_optimization(run, hist)]
    recommendation = recommend(run, accuracy_budget_pp)
    tables = {m: results_table(run, m) for m in sorted({r["model"] for r in lat})}

    out = run.folder
    write_json_atomic(out / "recommendation.json", recommendation)
    for f in figures:
        write_bytes_atomic(out / "figures" / f"{f.name}.png", f.png)
    write_bytes_atomic(out / "report.md", render_markdown(run, notes, tables, figures, recommendation).encode())
    write_bytes_atomic(out / "report.html", render_html(run, notes, tables, figures, recommendation).encode())
    return out / "report.html"


def _rec_lines(rec: dict) -> list[str]:
    lines = []
    for device, models in rec["devices"].items():
        for model, r in models.items():
            f, s = r["fastest"], r["smallest"]
            line = (f"{device} / {model}: fastest {f['variant']} on {f['runtime']} (t{f['threads']}) "
                    f"{f['p50_ms']:.3f} ms at {f['accuracy']:.1%}")
            if s:
                line += f"; smallest {s['variant']} ({s['format']}) {s['bytes'] / 1024:.0f} KiB at {s['accuracy']:.1%}"
            lines.append(line + f" (fp32 {r['fp32_accuracy']:.1%})")
    return lines


def render_markdown(run, notes, tables, figures, rec) -> str:
    md = [f"# convbench report — {run.folder.name}", "",
          f"Generated {datetime.now(timezone.utc).isoformat(timespec='seconds')} from `{run.folder / 'bench.json'}`. "
          "Every number below was measured in this run.", "", "## Provenance", "", "| | |", "|---|---|"]
    md += [f"| {k} | {v} |" for k, v in provenance(run).rows]
    md += ["", f"## Recommendation (accuracy within {rec['accuracy_budget_pp']} pp of fp32)", ""]
    md += [f"- {line}" for line in _rec_lines(rec)] or ["- no row met the budget"]
    md += ["", "## Notes", ""]
    for n in notes:
        md += [f"### {n.title}", "", f"*Textbook claim:* {n.claim}", "", *[f"- {x}" for x in n.findings], ""]
        if n.contradicted:
            md += ["**Where this run contradicts the claim:**", "", *[f"- {x}" for x in n.contradicted], ""]
        else:
            md += ["This run's measurements agree with the claim.", ""]
    md += ["## Figures", ""]
    md += [f"![{f.caption}](figures/{f.name}.png)\n\n*{f.caption}*\n" for f in figures]
    for model, table in tables.items():
        md += [f"## {model}", "", "| " + " | ".join(table.headers) + " |", "|" + "---|" * len(table.headers)]
        md += ["| " + " | ".join(_fmt(v) for v in row) + " |" for row in table.rows]
        md += [""]
    return "\n".join(md) + "\n"


SORT_JS = """
document.querySelectorAll('table.sortable th').forEach((th, i) => th.addEventListener('click', () => {
  const body = th.closest('table').tBodies[0];
  const asc = th.dataset.asc !== '1'; th.dataset.asc = asc ? '1' : '0';
  const key = tr => { const t = tr.cells[i].dataset.v ?? tr.cells[i].textContent; const n = parseFloat(t); return isNaN(n) ? t : n; };
  [...body.rows].sort((a, b) => { const x = key(a), y = key(b); return (x > y ? 1 : x < y ? -1 : 0) * (asc ? 1 : -1); })
    .forEach(r => body.appendChild(r));
}));
"""

CSS = """body{font-family:system-ui,sans-serif;margin:2em;max-width:1400px;color:#222}
table{border-collapse:collapse;font-size:12px;margin:1em 0}td,th{border:1px solid #ccc;padding:2px 6px;text-align:right}
th{background:#f2f2f2;cursor:pointer}td:first-child,th:first-child{text-align:left}.contra{color:#a40000}
figure{margin:1.5em 0}img{max-width:100%}"""


def render_html(run, notes, tables, figures, rec) -> str:
    e = html.escape
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>convbench report {e(run.folder.name)}</title>"
             f"<style>{CSS}</style></head><body><h1>convbench report — {e(run.folder.name)}</h1>",
             "<p>Every number below was measured in this run. Click a column header to sort.</p><h2>Provenance</h2><table>"]
    parts += [f"<tr><th>{e(str(k))}</th><td style='text-align:left'>{e(str(v))}</td></tr>" for k, v in provenance(run).rows]
    parts += [f"</table><h2>Recommendation (accuracy within {rec['accuracy_budget_pp']} pp of fp32)</h2><ul>"]
    parts += [f"<li>{e(line)}</li>" for line in _rec_lines(rec)] + ["</ul><h2>Notes</h2>"]
    for n in notes:
        parts += [f"<h3>{e(n.title)}</h3><p><em>Textbook claim:</em> {e(n.claim)}</p><ul>",
                  *[f"<li>{e(x)}</li>" for x in n.findings], "</ul>"]
        if n.contradicted:
            parts += ["<p class='contra'><strong>Where this run contradicts the claim:</strong></p><ul class='contra'>",
                      *[f"<li>{e(x)}</li>" for x in n.contradicted], "</ul>"]
        else:
            parts.append("<p>This run's measurements agree with the claim.</p>")
    parts.append("<h2>Figures</h2>")
    for f in figures:
        data = base64.b64encode(f.png).decode()
        parts.append(f"<figure><img alt='{e(f.caption)}' src='data:image/png;base64,{data}'><figcaption>{e(f.caption)}</figcaption></figure>")
    for model, table in tables.items():
        parts.append(f"<h2>{e(model)}</h2><table class='sortable'><thead><tr>"
                     + "".join(f"<th>{e(h)}</th>" for h in table.headers) + "</tr></thead><tbody>")
        for row in table.rows:
            parts.append("<tr>" + "".join(
                f"<td data-v='{'' if v is None else e(str(v))}'>{e(_fmt(v))}</td>" for v in row) + "</tr>")
        parts.append("</tbody></table>")
    parts.append(f"<script>{SORT_JS}</script></body></html>")
    return "\n".join(parts)

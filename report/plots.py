"""The report's figures (matplotlib, Agg), each returned as PNG bytes. Every point is a
measured row of this run; nothing is interpolated."""

from __future__ import annotations

import io
from collections import defaultdict

import numpy as np

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import NullFormatter  # noqa: E402

FIGSIZE = (10, 3.6)


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def _per_model_axes(models: list[str], height: float = 3.4, wspace: float = 0.35):
    fig, axes = plt.subplots(1, len(models), figsize=(max(4.0, 3.9 * len(models)), height), squeeze=False)
    fig.subplots_adjust(wspace=wspace)
    return fig, dict(zip(models, axes[0]))


def _log_x_accuracy_axis(ax, title: str, xlabel: str) -> None:
    ax.set_xscale("log")
    ax.xaxis.set_minor_formatter(NullFormatter())  # minor log labels overlap at this width
    ax.set_title(title, fontsize=9)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("held-out accuracy (%)")


def pareto_front(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Points not beaten by another that is both faster (lower x) and more accurate (higher y)."""
    front, best_y = [], -np.inf
    for x, y in sorted(points, key=lambda p: (p[0], -p[1])):
        if y > best_y:
            front.append((x, y))
            best_y = y
    return front


def latency_vs_accuracy(rows: list[dict], device: str) -> bytes | None:
    rows = [r for r in rows if r["device"] == device and r["batch"] == 1 and r.get("accuracy") is not None
            and r["runtime"] != "null"]  # the null runtime measures the harness, not a model
    runtimes = sorted({r["runtime"] for r in rows})

    def frontier(ax, mine):
        front = pareto_front([(r["p50_ms"], r["accuracy"] * 100) for r in mine])
        # x markers: a frontier of one point (fastest is also most accurate) shows too
        ax.plot(*zip(*front), "k--x", lw=1, ms=6, label="Pareto frontier")

    return _accuracy_scatter(rows, lambda r: r["p50_ms"], [(rt, "o", lambda r, rt=rt: r["runtime"] == rt) for rt in runtimes],
                             "batch-1 p50 latency (ms, log)", f"latency vs accuracy on {device}", 6, frontier)


def size_vs_accuracy(artifacts: list[dict]) -> bytes | None:
    rows = [a for a in artifacts if not a.get("error") and a.get("gzip_bytes")]
    series = [(kind, marker, lambda r, kind=kind: r["format"].startswith(kind)) for kind, marker in (("tflite", "o"), ("onnx", "s"))]
    return _accuracy_scatter(rows, lambda r: r["gzip_bytes"] / 1024, series, "gzip size (KiB, log)",
                             "size vs accuracy (every verified artifact)", 7)


def _accuracy_scatter(rows: list[dict], x_of, series, xlabel: str, title: str, legend_size: int,
                      decorate=None) -> bytes | None:
    """One panel per model: held-out accuracy (%) against x_of(row) on a log axis, one scatter
    per (label, marker, belongs) series; decorate(ax, model_rows) adds to each panel."""
    if not rows:
        return None
    fig, axes = _per_model_axes(sorted({r["model"] for r in rows}))
    for model, ax in axes.items():
        mine = [r for r in rows if r["model"] == model]
        for label, marker, belongs in series:
            pts = [(x_of(r), r["accuracy"] * 100) for r in mine if belongs(r)]
            if pts:
                ax.scatter(*zip(*pts), marker=marker, s=14, label=label, alpha=0.8)
        if decorate:
            decorate(ax, mine)
        _log_x_accuracy_axis(ax, model, xlabel)
    next(iter(axes.values())).legend(fontsize=legend_size)
    fig.suptitle(title, fontsize=10)
    return _png(fig)


def speedup_bars(rows: list[dict], baseline_runtime: str = "keras_eager") -> bytes | None:
    rows = [r for r in rows if r["batch"] == 1 and r["device"] == "cpu"]
    base = {r["model"]: r["p50_ms"] for r in rows if r["runtime"] == baseline_runtime}
    if not base:
        return None
    best: dict[tuple, float] = {}
    for r in rows:
        if r["model"] in base and r["runtime"] not in ("null", baseline_runtime):
            key = (r["model"], f"{r['variant']}/{r['runtime']}")
            best[key] = min(best.get(key, np.inf), r["p50_ms"])
    models = sorted(base)
    fig, axes = _per_model_axes(models, height=4.2, wspace=0.9)
    for model, ax in axes.items():
        items = sorted(((name, base[model] / t) for (m, name), t in best.items() if m == model), key=lambda kv: kv[1])[-12:]
        if items:
            ax.barh([n for n, _ in items], [s for _, s in items])
        ax.set_title(model, fontsize=9)
        ax.set_xlabel(f"speedup vs {baseline_runtime} (batch 1)")
        ax.tick_params(axis="y", labelsize=6)
    return _png(fig)


def memory_bars(rows: list[dict]) -> bytes | None:
    if not rows:
        return None
    models = sorted({r["model"] for r in rows})
    fig, axes = _per_model_axes(models, height=3.8, wspace=0.9)
    for model, ax in axes.items():
        mine = sorted((r for r in rows if r["model"] == model), key=lambda r: (r["runtime"], r["format"]))
        labels = [f"{r['variant']}/{r['runtime']}" for r in mine]
        b1 = [r.get("b1_peak_rss_mib", np.nan) for r in mine]
        bn = [r.get("peak_rss_mib", np.nan) for r in mine]
        y = np.arange(len(mine))
        ax.barh(y - 0.2, b1, height=0.4, label="batch 1")
        ax.barh(y + 0.2, bn, height=0.4, label="largest batch")
        ax.set_yticks(y, labels, fontsize=6)
        ax.set_title(model, fontsize=9)
        ax.set_xlabel("peak RSS of a fresh process (MiB)")
    next(iter(axes.values())).legend(fontsize=7)
    return _png(fig)


def learning_curves(histories: dict[str, dict]) -> bytes | None:
    if not histories:
        return None
    fig, axes = _per_model_axes(sorted(histories))
    for model, ax in axes.items():
        h = histories[model]
        epochs = np.arange(1, len(h.get("accuracy", [])) + 1)
        for key, style in (("accuracy", "-"), ("val_accuracy", "--")):
            if key in h:
                ax.plot(epochs, np.array(h[key]) * 100, style, label=key)
        ax.set_title(model, fontsize=9)
        ax.set_xlabel("epoch")
        ax.set_ylabel("accuracy (%)")
    next(iter(axes.values())).legend(fontsize=7)
    fig.suptitle("training curves (train vs validation)", fontsize=10)
    return _png(fig)


def scaling_plot(rows: list[dict]) -> bytes | None:
    rows = [r for r in rows if r.get("metric") == "latency" and r.get("p50_ms")]
    if not rows:
        return None
    fig, ax = plt.subplots(figsize=(6, 3.8))
    series = defaultdict(list)
    for r in rows:
        side = int(str(r["variant"]).split("_")[-1].split("x")[0])
        series[(r["model"], r["format"], r["runtime"])].append((side, r["p50_ms"]))
    for (model, fmt, runtime), pts in sorted(series.items()):
        pts.sort()
        ax.plot(*zip(*pts), marker="o", label=f"{model} {fmt} {runtime}")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("input side (pixels, log)")
    ax.set_ylabel("batch-1 p50 latency (ms, log)")
    ax.legend(fontsize=5)
    ax.set_title("latency vs input side (random weights)", fontsize=10)
    return _png(fig)


def batch_plot(rows: list[dict]) -> bytes | None:
    series = defaultdict(list)
    for r in rows:
        # The baselines only, one thread (or TF's own): every variant would bury the trend.
        if (r["device"] == "cpu" and r["runtime"] != "null" and r.get("throughput_items_per_s") and r["threads"] in (1, None)
                and r["variant"] in ("keras_fp32", "tflite_fp32", "tflite_int8", "onnx_fp32", "onnx_static_qdq")):
            series[(r["model"], r["variant"], r["runtime"], r["threads"])].append((r["batch"], r["throughput_items_per_s"]))
    series = {k: sorted(v) for k, v in series.items() if len(v) > 1}
    if not series:
        return None
    models = sorted({k[0] for k in series})
    fig, axes = _per_model_axes(models)
    for (model, variant, runtime, threads), pts in sorted(series.items()):
        axes[model].plot(*zip(*pts), marker=".", lw=1, label=f"{variant} {runtime} t{threads}")
    for model, ax in axes.items():
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_title(model, fontsize=9)
        ax.set_xlabel("batch")
        ax.set_ylabel("items/s")
        ax.legend(fontsize=6)
    return _png(fig)


def pipeline_bars(rows: list[dict]) -> bytes | None:
    rows = [r for r in rows if r.get("images_per_s")]
    if not rows:
        return None
    fig, ax = plt.subplots(figsize=(6, 0.4 * len(rows) + 1))
    labels = [f"{r['variant']} ({r['format']})" for r in rows]
    ax.barh(labels, [r["images_per_s"] for r in rows])
    ax.set_xlabel("images/s through tf.data")
    ax.tick_params(axis="y", labelsize=7)
    ax.set_title("data pipeline throughput", fontsize=10)
    return _png(fig)

"""The report's charts of a run's typed rows (matplotlib), each PNG bytes or None where the run
has no data for it. Every point is a measured row of this run; nothing is interpolated."""

from __future__ import annotations

from collections import defaultdict

import numpy as np
from matplotlib.ticker import NullFormatter

from convbench.formats import family
from convbench.records import BenchRun
from convbench.report.figures import Figure, png, subplots
from convbench.report.rows import EAGER_RUNTIME, model_rows
from convbench.runtimes import FP32_INT8

KERAS_BASELINE = "keras_fp32"


def _per_model_axes(models: list[str], height: float = 3.4, wspace: float = 0.35):
    fig, axes = subplots(1, len(models), figsize=(max(4.0, 3.9 * len(models)), height), squeeze=False)
    fig.subplots_adjust(wspace=wspace)
    return fig, dict(zip(models, axes[0]))


def pareto_front(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Points not beaten by another that is both faster (lower x) and more accurate (higher y)."""
    front, best_y = [], -np.inf
    for x, y in sorted(points, key=lambda p: (p[0], -p[1])):
        if y > best_y:
            front.append((x, y))
            best_y = y
    return front


def latency_vs_accuracy(rows: list, device: str) -> bytes | None:
    """Accuracy measured by each row's own session against its batch-1 p50."""
    rows = [r for r in model_rows(rows) if r.device == device and r.batch == 1 and r.accuracy is not None]

    def frontier(ax, mine):
        front = pareto_front([(r.stats.p50_ms, r.accuracy * 100) for r in mine])
        # x markers: a frontier of one point (fastest is also most accurate) shows too
        ax.plot(*zip(*front), "k--x", lw=1, ms=6, label="Pareto frontier")

    series = [(rt, "o", lambda r, rt=rt: r.runtime == rt) for rt in sorted({r.runtime for r in rows})]
    return _accuracy_scatter(rows, lambda r: r.stats.p50_ms, series, "batch-1 p50 latency (ms, log)",
                             f"latency vs accuracy on {device} (accuracy measured by each row)", 6, frontier)


def size_vs_accuracy(artifacts: list) -> bytes | None:
    """Accuracy of each artifact file from its build-time verification."""
    rows = [a for a in artifacts if a.ok and a.gzip_bytes and a.accuracy is not None]
    series = [(fam, marker, lambda a, fam=fam: family(a.format) == fam)
              for fam, marker in (("tflite", "o"), ("onnx", "s"))]
    return _accuracy_scatter(rows, lambda a: a.gzip_bytes / 1024, series, "gzip size (KiB, log)",
                             "size vs accuracy (every verified artifact)", 7)


def _accuracy_scatter(rows: list, x_of, series, xlabel: str, title: str, legend_size: int,
                      decorate=None) -> bytes | None:
    """One panel per model: accuracy (%) against x_of(row) on a log axis, one scatter per
    (label, marker, belongs) series; decorate(ax, model_rows) adds to each panel."""
    if not rows:
        return None
    fig, axes = _per_model_axes(sorted({r.model for r in rows}))
    for model, ax in axes.items():
        mine = [r for r in rows if r.model == model]
        for label, marker, belongs in series:
            pts = [(x_of(r), r.accuracy * 100) for r in mine if belongs(r)]
            if pts:
                ax.scatter(*zip(*pts), marker=marker, s=14, label=label, alpha=0.8)
        if decorate:
            decorate(ax, mine)
        ax.set_xscale("log")
        ax.xaxis.set_minor_formatter(NullFormatter())  # minor log labels overlap at this width
        ax.set_title(model, fontsize=9)
        ax.set_xlabel(xlabel)
        ax.set_ylabel("held-out accuracy (%)")
    next(iter(axes.values())).legend(fontsize=legend_size)
    fig.suptitle(title, fontsize=10)
    return png(fig)


def speedup_bars(rows: list) -> bytes | None:
    rows = [r for r in rows if r.batch == 1 and r.device == "cpu"]
    base = {r.model: r.stats.p50_ms for r in rows if r.runtime == EAGER_RUNTIME}
    best: dict[tuple, float] = {}
    for r in model_rows(rows):
        if r.model in base and r.runtime != EAGER_RUNTIME:
            key = (r.model, f"{r.variant}/{r.runtime}")
            best[key] = min(best.get(key, np.inf), r.stats.p50_ms)
    if not best:
        return None
    fig, axes = _per_model_axes(sorted(base), height=4.2, wspace=0.9)
    for model, ax in axes.items():
        speedups = ((name, base[model] / t) for (m, name), t in best.items() if m == model)
        items = sorted(speedups, key=lambda kv: kv[1])[-12:]
        if items:
            ax.barh([n for n, _ in items], [s for _, s in items])
        ax.set_title(model, fontsize=9)
        ax.set_xlabel(f"speed-up vs {EAGER_RUNTIME} (batch 1)")
        ax.tick_params(axis="y", labelsize=6)
    return png(fig)


def memory_bars(rows: list) -> bytes | None:
    if not rows:
        return None
    fig, axes = _per_model_axes(sorted({r.model for r in rows}), height=3.8, wspace=0.9)
    for model, ax in axes.items():
        mine = sorted((r for r in rows if r.model == model), key=lambda r: (r.runtime, r.format, r.variant))
        y = np.arange(len(mine))
        ax.barh(y - 0.2, [r.phases[0].peak_rss_mib for r in mine], height=0.4, label="smallest batch")
        ax.barh(y + 0.2, [r.phases[-1].peak_rss_mib for r in mine], height=0.4, label="largest batch")
        ax.set_yticks(y, [f"{r.variant}/{r.runtime}" for r in mine], fontsize=6)
        ax.set_title(model, fontsize=9)
        ax.set_xlabel("peak RSS of a fresh process (MiB)")
    next(iter(axes.values())).legend(fontsize=7)
    return png(fig)


def learning_curves(histories: dict[str, dict[str, list[float]]]) -> bytes | None:
    histories = {m: h for m, h in histories.items() if h.get("accuracy")}
    if not histories:
        return None
    fig, axes = _per_model_axes(sorted(histories))
    for model, ax in axes.items():
        h = histories[model]
        epochs = np.arange(1, len(h["accuracy"]) + 1)
        for key, style in (("accuracy", "-"), ("val_accuracy", "--")):
            if h.get(key):
                ax.plot(epochs[:len(h[key])], np.array(h[key]) * 100, style, label=key)
        ax.set_title(model, fontsize=9)
        ax.set_xlabel("epoch")
        ax.set_ylabel("accuracy (%)")
    next(iter(axes.values())).legend(fontsize=7)
    fig.suptitle("training curves (train vs validation)", fontsize=10)
    return png(fig)


def scaling_plot(rows: list) -> bytes | None:
    series = defaultdict(list)
    for r in rows:
        batch = "" if r.batch == 1 else f" b{r.batch}"
        series[f"{r.model} {r.format} {r.runtime}{batch}"].append((r.side, r.stats.p50_ms))
    if not series:
        return None
    fig, ax = subplots(figsize=(6, 3.8))
    for label, pts in sorted(series.items()):
        ax.plot(*zip(*sorted(pts)), marker="o", label=label)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("input side (pixels, log)")
    ax.set_ylabel("p50 latency (ms, log)")
    ax.legend(fontsize=5)
    ax.set_title("latency vs input side (random weights)", fontsize=10)
    return png(fig)


def batch_plot(rows: list) -> bytes | None:
    series = defaultdict(list)
    for r in model_rows(rows):
        # The baselines only, one thread (or the runtime's own): every variant would bury the trend.
        if r.device == "cpu" and r.threads in (1, None) and r.variant in (KERAS_BASELINE, *FP32_INT8):
            series[(r.model, r.variant, r.runtime, r.threads_label)].append((r.batch, r.stats.throughput_items_per_s))
    series = {k: sorted(v) for k, v in series.items() if len(v) > 1}
    if not series:
        return None
    fig, axes = _per_model_axes(sorted({k[0] for k in series}))
    for (model, variant, runtime, threads), pts in sorted(series.items()):
        axes[model].plot(*zip(*pts), marker=".", lw=1, label=f"{variant} {runtime} t{threads}")
    for model, ax in axes.items():
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_title(model, fontsize=9)
        ax.set_xlabel("batch")
        ax.set_ylabel("items/s")
        ax.legend(fontsize=6)
    return png(fig)


def pipeline_bars(rows: list) -> bytes | None:
    if not rows:
        return None
    fig, ax = subplots(figsize=(6, 0.4 * len(rows) + 1))
    ax.barh([r.label for r in rows], [r.images_per_s for r in rows])
    ax.set_xlabel("images/s through tf.data")
    ax.tick_params(axis="y", labelsize=7)
    ax.set_title("data pipeline throughput", fontsize=10)
    return png(fig)


def run_figures(run: BenchRun) -> list[Figure]:
    """Every chart of the run, each with the line the report prints where it has no data."""
    artifacts = run.manifest.artifacts if run.manifest else []
    histories = {t.name: t.history for t in run.manifest.trained} if run.manifest else {}
    devices = sorted({r.device for r in model_rows(run.latency)}) or ["cpu"]
    no_manifest = " (no manifest snapshot in the run folder)" if run.manifest is None else ""
    return [
        *(Figure.drawn(f"latency_accuracy_{d}", f"Latency vs accuracy on {d} (accuracy measured by each row), "
                       "Pareto frontier dashed", latency_vs_accuracy(run.latency, d),
                       f"no batch-1 latency row on {d} measured accuracy") for d in devices),
        Figure.drawn("size_accuracy", "Size vs accuracy (accuracy: each file's build-time verification)",
                     size_vs_accuracy(artifacts), "no verified artifact with a gzip size" + no_manifest),
        Figure.drawn("speedup", f"Speed-up vs {EAGER_RUNTIME} at batch 1", speedup_bars(run.latency),
                     f"no batch-1 CPU {EAGER_RUNTIME} row to compare with"),
        Figure.drawn("memory", "Peak memory of a fresh process, smallest and largest batch",
                     memory_bars(run.of("memory")), "no memory rows in this run"),
        Figure.drawn("learning_curves", "Training curves", learning_curves(histories),
                     "no training history" + no_manifest),
        Figure.drawn("scaling_side", "Latency vs input side", scaling_plot(run.of("scaling_latency")),
                     "no scaling rows in this run"),
        Figure.drawn("scaling_batch", "Throughput vs batch", batch_plot(run.latency),
                     "no baseline row was timed at more than one batch"),
        Figure.drawn("pipeline", "tf.data throughput", pipeline_bars(run.of("pipeline")),
                     "no data-pipeline rows in this run"),
    ]

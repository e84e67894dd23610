"""The report's first screen: per device and model, what to ship on this machine and why. Three
rows each: the fp32 baseline (the fastest plain fp32 conversion), and the fastest and the
smallest row within the accuracy budget (recommend.py picks them: the fastest among the rows
that tie on speed by the tie rule, ties.py; the smallest download), with latency, speed-up over
the baseline, size, accuracy against the trained fp32 model with an exact McNemar test, and
the peak memory of a fresh process. The verdict names the tie group."""

from __future__ import annotations

from dataclasses import dataclass

from convbench.core.records import BenchRun, LatencyResult
from convbench.report.charts import Chart, latency_chart
from convbench.report.recommend import Picks, pick_rows
from convbench.report.rows import fastest, is_post_training, memory_of, model_rows, one_core, precision
from convbench.report.rows import kib as kib_text
from convbench.report.significance import difference
from convbench.report.table import CONTRA, Cell, Table, kib

HEADERS = ["model", "pick", "variant (format)", "runtime", "p50 / p99 (ms)", "speed-up (× baseline)",
           "size / gzip (KiB)", "accuracy (%)", "Δ vs fp32 (pp, McNemar p)", "peak RSS (MiB)"]


@dataclass
class DeviceSummary:
    device: str
    table: Table
    verdicts: list[str]                # one sentence per model: what to ship, and why
    chart: Chart                       # latency vs accuracy with the Pareto frontier


def baseline_row(rows: list[LatencyResult]) -> LatencyResult | None:
    """The fastest batch-1 row of a plain fp32 conversion (tflite_fp32, onnx_fp32) at one thread,
    as the picks are compared (rows.one_core); the Keras model's where the run converted none."""
    plain = one_core([r for r in rows if r.batch == 1 and is_post_training(r) and precision(r) == "fp32"])
    return fastest(plain) or fastest(one_core([r for r in rows if r.batch == 1 and precision(r) == "fp32"]))


def device_summaries(run: BenchRun, budget_pp: float) -> list[DeviceSummary]:
    rows = model_rows(run.latency)
    out = []
    for device in sorted({r.device for r in rows}):
        cells, verdicts = [], []
        for model in sorted({r.model for r in rows if r.device == device}):
            mine = [r for r in rows if (r.device, r.model) == (device, model)]
            base = baseline_row(mine)
            picked = pick_rows(run, model, mine, budget_pp)
            choices = [("fp32 baseline", base)] if base else []
            if isinstance(picked, str):
                verdicts.append(f"{model}: nothing to recommend — {picked}.")
            else:
                tied = len(picked.ties.tied)
                choices += [("fastest" + (f" (pick of {tied} tied)" if tied > 1 else ""), picked.fastest),
                            ("smallest download", picked.smallest)]
                verdicts.append(verdict(run, model, base, picked))
            cells += [_cells(run, model if i == 0 else "", role, row, base)
                      for i, (role, row) in enumerate(_merged(choices))]
        out.append(DeviceSummary(device, Table(HEADERS, cells), verdicts, latency_chart(run, device)))
    return out


def _merged(choices: list[tuple[str, LatencyResult | None]]) -> list[tuple[str, LatencyResult]]:
    """One line per row: a row that is both the baseline and the fastest, say, is shown once
    with both roles ("fp32 baseline, fastest")."""
    roles: dict[int, tuple[list[str], LatencyResult]] = {}
    for role, row in choices:
        if row is not None:
            roles.setdefault(id(row), ([], row))[0].append(role)
    return [(", ".join(names), row) for names, row in roles.values()]


def _cells(run: BenchRun, model: str, role: str, row: LatencyResult, base: LatencyResult | None) -> list[Cell]:
    artifact = run.artifact(row)
    memory = memory_of(run, row)
    phase = memory.phase(row.batch) if memory else None
    return [Cell(model), Cell(role), Cell(_artifact(row)), Cell(f"{row.runtime} t{row.threads_label}"),
            Cell(f"{row.stats.p50_ms:.3f} / {row.stats.p99_ms:.3f}"),
            Cell(f"{base.stats.p50_ms / row.stats.p50_ms:.2f}" if base else "–"),
            Cell(f"{kib(artifact and artifact.bytes)} / {kib(artifact and artifact.gzip_bytes)}"),
            Cell("not measured" if row.accuracy is None else f"{row.accuracy * 100:.2f}"),
            _delta(row, run.fp32_accuracy(row.model)),
            Cell(f"{phase.peak_rss_mib:.0f}" if phase else "–")]


def _delta(row: LatencyResult, fp32: float | None) -> Cell:
    """Δ with its McNemar p; a significant loss is marked. Without discordant counts (a run from
    before they were recorded) the Δ alone."""
    diff = difference(row, fp32)
    if diff is not None:
        return Cell(diff.text(unit=""), mark=CONTRA if diff.significant and diff.delta_pp < 0 else "")
    if row.accuracy is None or fp32 is None:
        return Cell("–")
    return Cell(f"{(row.accuracy - fp32) * 100:+.2f} (p n/a)")


def verdict(run: BenchRun, model: str, base: LatencyResult | None, picked: Picks) -> str:
    """One sentence: what to ship for latency and for size, and why (speed and its ties, size
    by the size rule, accuracy)."""
    fast, small = picked.fastest, picked.smallest
    fp32 = run.fp32_accuracy(model)
    where = f"{_artifact(fast)} on {fast.runtime} t{fast.threads_label}"
    if base is not None and fast is base and not picked.ties.is_tie:
        latency = (f"for latency the fp32 baseline itself, {where} (no compressed row is faster; "
                   f"{_accuracy(fast, fp32)})")
    else:
        gain = f"{base.stats.p50_ms / fast.stats.p50_ms:.2f}x the baseline's speed, " if base else ""
        latency = f"for latency {where} ({gain}{_accuracy(fast, fp32)}{_more_threads(run, fast)}){_ties(picked)}"
    if small is fast:
        return f"{model}: {latency}; it is also the smallest download within the budget{_smaller(run, small, base)}."
    if small is None:
        return f"{model}: {latency}; no file size is known for the smallest."
    size = f"for size {_artifact(small)} ({_smaller(run, small, base, ', ')}{_accuracy(small, fp32)})"
    return f"{model}: {latency}; {size}."


def _more_threads(run: BenchRun, row: LatencyResult) -> str:
    """"; on 2 threads 0.031 ms, 1.35x faster" where the same file ran faster on more threads (files are
    compared at one thread; how far more threads carry the pick is said beside it)."""
    more = [r for r in run.latency if r.key.any_threads() == row.key.any_threads()
            and (r.threads or 0) > (row.threads or 0) and r.stats.p50_ms < row.stats.p50_ms]
    best = fastest(more)
    if best is None:
        return ""
    return (f"; on {best.threads_label} threads {best.stats.p50_ms:.3f} ms, "
            f"{row.stats.p50_ms / best.stats.p50_ms:.2f}x faster")


def _ties(picked: Picks, shown: int = 5) -> str:
    """", picked by the tie rule from 3 rows that cannot be told apart on speed (...)" or ""
    where the fastest stands alone."""
    ties = picked.ties
    if not ties.is_tie:
        return ""
    tied = sorted(ties.tied, key=lambda t: t.ratio.ratio)
    named = [f"{_artifact(t.row)} {t.row.runtime} t{t.row.threads_label} {t.ratio.ratio:.2f}x" for t in tied[:shown]]
    more = f" and {len(tied) - shown} more" if len(tied) > shown else ""
    return (f", picked by the tie rule from {len(tied)} rows that cannot be told apart on speed (median over "
            f"the lowest, {ties.fastest.stats.p50_ms:.3f} ms: {', '.join(named)}{more})")


def _artifact(row: LatencyResult) -> str:
    return row.variant if row.variant == row.format else f"{row.variant} ({row.format})"


def _accuracy(row: LatencyResult, fp32: float | None) -> str:
    diff = difference(row, fp32)
    if diff is None:
        return "accuracy " + ("not measured" if row.accuracy is None else f"{row.accuracy:.2%}")
    return f"accuracy {diff.text()}" + (", a real difference" if diff.significant else ", no significant change")


def _smaller(run: BenchRun, row: LatencyResult, base: LatencyResult | None, sep: str = "") -> str:
    """", download (gzip) 71.5 KiB, file 80.2 KiB, 3.4x smaller download than the baseline's"
    (with `sep` after it), or "" where sizes are unknown. The size rule (ties.SIZE_RULE) ranks
    by gzip, so the sentence leads with it and shows the raw file beside it."""
    mine, theirs = run.artifact(row), base and run.artifact(base)
    if not (mine and mine.gzip_bytes):
        return ""
    text = f"download (gzip) {kib_text(mine.gzip_bytes)}, file {kib_text(mine.bytes or 0)}"
    if theirs and theirs.gzip_bytes:
        text += f", a {theirs.gzip_bytes / mine.gzip_bytes:.1f}x smaller download than the baseline's"
    return f"{text}{sep}" if sep else f", {text}"

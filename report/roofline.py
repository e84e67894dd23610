"""The run's roofs in the report: the table of every roof candidate (which won, start vs end),
the theoretical peaks and bandwidth beside them, and one roofline figure per device with every
latency row as a point.

Arithmetic intensity = ops (records.roofs.OPS_COUNT) per byte a call must move at least: the
artifact's stored weights once, plus the batch's input and output. Activations between layers
are not counted (they may stay in cache), so a point's true intensity is at most this."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from convbench.core.records import BenchRun, DeviceRoofs
from convbench.core.records.roofs import PRECISIONS
from convbench.report.figures import Figure, png, subplots
from convbench.report.rows import model_rows, precision
from convbench.report.table import Cell, Table

COLORS = {"fp32": "tab:blue", "int8": "tab:red", "fp16": "tab:green", "bf16": "tab:purple"}
MARKERS = {"tflite": "o", "onnx": "s", "keras": "^"}


@dataclass
class RoofsSection:
    paragraphs: list[str]
    table: Table


def roofs_section(run: BenchRun) -> RoofsSection:
    roofs = run.record.roofs
    lines = [f"Ops: {roofs.ops_count}. Roof rule: {roofs.rule}.",
             *(f"{device}: no roofs ({why})." for device, why in roofs.not_measured.items())]
    roofed = [r for r in run.latency + run.of("scaling_latency") if r.fraction_of_roof is not None]
    if roofed:
        top = max(roofed, key=lambda r: r.fraction_of_roof)
        above = sum(r.fraction_of_roof > 1 for r in roofed)
        lines.append(f"Largest efficiency of any row: {top.fraction_of_roof:.1%} ({top.label}, "
                     f"{top.achieved_gflops:.1f} of {top.roof_gflops:.1f} Gop/s, {top.roof_name}); rows above 100 % "
                     f"of their roof: {above} of {len(roofed)}"
                     + (" — each one failed the run: a kernel beats every roof probe." if above else "."))
    rows = []
    for device in roofs.devices:
        pooled = roofs.pooled(device)
        start = next((d for d in roofs.at_start if d.device == device), None)
        end = next((d for d in roofs.at_end if d.device == device), None)
        lines.append(_measured_line(pooled, start, end))
        rows += _candidate_rows(pooled, start, end) + _peak_rows(pooled) + _bandwidth_rows(pooled)
    headers = ["device", "precision", "threads", "Gop/s (GB/s)", "start", "end", "method", "roof?"]
    return RoofsSection(lines, Table(headers, [[Cell(str(c)) for c in row] for row in rows]))


def _measured_line(pooled: DeviceRoofs, start: DeviceRoofs | None, end: DeviceRoofs | None) -> str:
    taken = ", ".join(f"{d.seconds:g} s ({d.attempts} attempt(s), other processes used "
                      f"{100 * (d.foreign_cpu_share or 0):.0f} % of the CPU)" for d in (start, end) if d)
    missing = "; ".join(f"{k}: {v}" for k, v in pooled.not_measured.items())
    return (f"{pooled.device} ({pooled.name}, {pooled.usable_cores} usable cores, flags "
            f"{' '.join(pooled.flags) or 'none'}): measured before the first row and after the last in {taken}"
            + (f". Not measured: {missing}." if missing else "."))


def _gops(m) -> str:
    return "–" if m is None else f"{m.ops_per_s / 1e9:.1f}"


def _candidate_rows(pooled, start, end) -> list[list]:
    """Every probe, best first per (precision, threads); "roof" marks the one rows divide by."""
    def at(d, m):
        return next((x for x in d.measurements if (x.method, x.threads) == (m.method, m.threads)), None) if d else None

    rows = []
    for m in sorted(pooled.measurements, key=lambda m: (PRECISIONS.index(m.precision) if m.precision in PRECISIONS
                                                        else 9, m.threads or 0, -m.ops_per_s)):
        best = pooled.best(m.precision, m.threads)
        won = best is not None and (best.method, best.threads) == (m.method, m.threads)
        rows.append([pooled.device, m.precision, m.threads or "GPU", _gops(m), _gops(at(start, m)), _gops(at(end, m)),
                     m.method, "roof" if won else ""])
    return rows


def _peak_rows(pooled: DeviceRoofs) -> list[list]:
    rows = []
    for p in pooled.peaks:
        units = pooled.implied_units(p)
        per_unit = f"{p.per_unit_ops_per_s / 1e9:.0f} per unit" if p.per_unit_ops_per_s else "no clock"
        rows.append([pooled.device, p.precision, p.cores, per_unit, "", "", (
            f"theoretical: {p.instruction} x {p.cores} cores x {(p.clock_hz or 0) / 1e9:.2f} GHz ({p.clock_source}) x "
            "units per core (not in the CPU flags)" + (f"; the 1-thread roof needs {units:.2f} units at this clock"
                                                        if units else "")), ""])
    return rows


def _bandwidth_rows(pooled: DeviceRoofs) -> list[list]:
    best = pooled.bandwidth_bytes_per_s()
    return [[pooled.device, "memory", b.threads or "GPU", f"{b.bytes_per_s / 1e9:.1f} GB/s", "", "", b.method,
             "roof" if b.bytes_per_s == best else ""] for b in pooled.bandwidth]


def roofline_figures(run: BenchRun) -> list[Figure]:
    """One figure per device that has roofs or rows; a device without roofs gets the reason."""
    roofs = run.record.roofs
    devices = list(dict.fromkeys([*roofs.devices, *roofs.not_measured]))
    out = []
    for device in devices:
        pooled = roofs.pooled(device)
        why = roofs.not_measured.get(device, f"no {device} latency row has an ops count")
        out.append(Figure.drawn(f"roofline_{device}", f"Roofline on {device}: achieved ops/s vs arithmetic intensity "
                                "(ops per byte of stored weights + input + output per call), compute roofs per "
                                "precision (solid: all cores, dashed: 1 thread) and the bandwidth roof",
                                roofline_png(pooled, _points(run, device)) if pooled else None, why))
    return out


def _points(run: BenchRun, device: str) -> list:
    return [r for r in model_rows(run.latency) if r.device == device and r.arithmetic_intensity and r.achieved_gflops]


def roofline_png(roofs: DeviceRoofs, rows: list) -> bytes | None:
    if not rows:
        return None
    from convbench.core.formats import family

    fig, ax = subplots(figsize=(9, 4.8))
    xs = np.array([r.arithmetic_intensity for r in rows])
    x = np.logspace(np.log10(xs.min() / 3), np.log10(xs.max() * 3), 200)
    bandwidth = roofs.bandwidth_bytes_per_s()
    top = max((m.ops_per_s for m in roofs.measurements), default=None)
    if bandwidth and top:   # the slope up to the highest compute roof
        ax.plot(x, np.minimum(bandwidth * x, top) / 1e9, color="gray", lw=1, label=f"memory {bandwidth / 1e9:.0f} GB/s")
    for name in PRECISIONS:
        for threads, style in ((None, "-"), (1, "--")):
            roof = roofs.best(name, threads)
            if roof:
                y = np.minimum(roof.ops_per_s, bandwidth * x if bandwidth else roof.ops_per_s) / 1e9
                ax.plot(x, y, style, color=COLORS[name], lw=1,
                        label=f"{name} {roof.ops_per_s / 1e9:.0f} Gop/s ({'1 thread' if threads else 'all cores'})")
    for r in rows:
        ax.scatter(r.arithmetic_intensity, r.achieved_gflops, s=14, alpha=0.75,
                   color=COLORS.get(precision(r) or "", "black"), marker=MARKERS.get(family(r.format), "x"))
    for fam, marker in MARKERS.items():
        ax.scatter([], [], marker=marker, color="black", s=14, label=f"{fam} rows")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("arithmetic intensity (ops / byte of weights + input + output per call)")
    ax.set_ylabel("achieved Gop/s (real-pixel ops)")
    ax.set_title(f"roofline on {roofs.device}: {roofs.name}, every latency row", fontsize=9)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return png(fig)

"""The cross-machine report as one page (`convbench fleet`, `convbench report RUN RUN ...`):
built once, then printed on the console or written as cross-machine.md and .html through the
report's templates (report/templates/cross_machine.j2)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from convbench.core.tables import noise_line, print_lines, print_table, ratio_cell
from convbench.fleet.compare import CrossMachineReport
from convbench.report.table import Cell, Table

PAGE_FILES = {"markdown": "cross-machine.md", "html": "cross-machine.html"}


@dataclass
class Section:
    title: str
    table: Table
    right: set[int] = field(default_factory=set)   # the console's right-aligned columns


@dataclass
class Page:
    title: str
    machines: list[str]
    sections: list[Section]
    lines: list[str]


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{x * 100:.1f}"


def _table(headers: list[str], rows: list[list[str | None]]) -> Table:
    return Table(headers, [[Cell("–" if v is None else v) for v in row] for row in rows], sortable=True)


def page(report: CrossMachineReport) -> Page:
    sides, ref = report.sides, report.reference
    machines = []
    for i, s in enumerate(sides):
        m = s.run.record.machine
        price = "no price" if s.price_usd_per_hour is None else f"${s.price_usd_per_hour:g}/h"
        machines.append(f"m{i}: {s.label}  machine {s.machine_id} ({m.cpu_name}, {m.usable_cores} cores, "
                        f"{m.gpu_name or 'no GPU'}); {price}; run {s.run.folder}")
    others = [i for i in range(len(sides)) if i != ref]
    intervals = report.intervals()

    def ratio(r, i, told) -> str:
        estimate, apart = told
        return f"{r.ratio(i, ref):.2f}x" if estimate is None else ratio_cell(estimate, apart)

    headers = ["row"] + [h for i in range(len(sides)) for h in (f"m{i} p50 ms", f"m{i} roof %")] + \
        [f"m{i}/m{ref}" for i in others]
    latency = _table(headers, [[r.row.label] + [v for i in range(len(sides))
                                                 for v in (f"{r.p50_ms[i]:.4f}", _pct(r.fraction_of_roof[i]))]
                               + [ratio(r, i, told) for i, told in zip(others, per)]
                               for r, per in zip(report.rows, intervals)])
    cost_col = ["$ per million"] if report.priced else []
    offers = _table(["machine", "artifact", "best items/s", *cost_col, "accuracy drop pp", "throughput from"],
                    [[f"m{o.side} {sides[o.side].label}", f"{o.model}/{o.what}", f"{o.items_per_s:,.0f}",
                      *([None if o.usd_per_million is None else f"{o.usd_per_million:.4g}"] if report.priced else []),
                      None if o.drop_pp is None else f"{o.drop_pp:.2f}", o.basis] for o in report.offers])
    sections = [
        Section("latency: the same file on every machine (roof %: achieved GFLOP/s against that machine's own "
                "measured roof)", latency, set(range(1, len(headers)))),
        Section("best measured throughput per machine and artifact"
                + ("; cost per million inferences at it" if report.priced else " (no --price: no cost shown)"),
                offers, {2, 3, 4} if report.priced else {2, 3})]
    judged = [apart for per in intervals for _, apart in per if apart is not None]
    lines = [noise_line(judged, report.spreads), f"per model, within {report.budget_pp:g} pp of fp32 accuracy:"]
    lines += _choices(report)
    lines.append(f"{len(report.rows)} row(s) with the same file on every machine; {report.rows_with_other_files} "
                 f"whose files differ (not compared); {report.rows_not_everywhere} not run on every machine")
    lines += _notes(report)
    return Page(f"cross-machine report (reference: m{ref} {sides[ref].label})", machines, sections, lines)


def _choices(report: CrossMachineReport) -> list[str]:
    sides, lines = report.sides, []
    for c in report.choices:
        if c.cheapest:
            o = c.cheapest
            lines.append(f"{c.model}: cheapest m{o.side} {sides[o.side].label} {o.what}: "
                         f"${o.usd_per_million:.4g} per million ({o.items_per_s:,.0f}/s, {o.basis})")
        else:
            lines.append(f"{c.model}: cheapest: none ({c.why_no_cheapest})")
        if c.fastest:
            i, r = c.fastest
            if c.not_distinguishable is None:
                within = " (a run of one round: not told apart from noise; --repeat 3 says)"
            elif c.not_distinguishable:
                within = ("; within noise of it: the fastest row on "
                          + ", ".join(f"m{j} {sides[j].label}" for j in c.not_distinguishable))
            else:
                within = ""
            lines.append(f"{c.model}: fastest m{i} {sides[i].label} {r.variant}/{r.format} {r.runtime} "
                         f"b1 t{r.threads_label}: p50 {r.stats.p50_ms:.4f} ms{within}")
        else:
            lines.append(f"{c.model}: fastest: none (no batch-1 row with measured accuracy within the budget)")
    return lines


def _notes(report: CrossMachineReport) -> list[str]:
    sides, lines = report.sides, []
    for i, j in report.same_machine:
        lines.append(f"note: m{i} {sides[i].label} and m{j} {sides[j].label} are one physical machine (same machine "
                     f"fingerprint {sides[i].machine_id}): their ratios are run-to-run variation, not a difference "
                     "between machines")
    for s in sides:
        if s.node and s.node.bench_niceness:
            lines.append(f"note: {s.label}'s bench ran at nice {s.node.bench_niceness} (Ray's worker priority; "
                         "raising it needs root or CAP_SYS_NICE on the node): other processes there came first")
        if s.node and s.node.accepted_differences:
            lines.append(f"note: {s.label} ran other software than the driver (accepted): "
                         + "; ".join(s.node.accepted_differences))
    return lines


def print_report(report: CrossMachineReport) -> Page:
    p = page(report)
    print_lines(["", p.title, *p.machines])
    for s in p.sections:
        print_table(s.table.headers, [[None if c.text == "–" else c.text for c in row] for row in s.table.rows],
                    title=s.title, right=s.right)
    print_lines(p.lines)
    return p


def write_page(p: Page, folder: Path) -> list[Path]:
    """cross-machine.md and cross-machine.html in `folder` (each written whole: temp name, then rename)."""
    from convbench.core.fsutil import write_bytes_atomic
    from convbench.report.render import render_page

    written = []
    for fmt, name in PAGE_FILES.items():
        path = Path(folder) / name
        write_bytes_atomic(path, render_page("cross_machine.j2", fmt, page=p).encode())
        written.append(path)
    return written

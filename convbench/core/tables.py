"""The one console table printer (rich): optimize's summary, bench's summary and the gate's
output all go through it, so columns line up the same way everywhere."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Sequence

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

# Wide enough that a CI log (no terminal) does not wrap a row.
LOG_WIDTH = 200


def console(file=None) -> Console:
    file = file or sys.stdout
    return Console(file=file, width=None if file.isatty() else LOG_WIDTH, highlight=False, soft_wrap=True)


def table(headers: Sequence[str], rows: Iterable[Sequence], title: str | None = None,
          right: Iterable[int] = ()) -> Table:
    """A plain table; `right` lists the columns (by index) to right-align (numbers)."""
    right = set(right)
    out = Table(title=Text(title) if title else None,  # literal: a title may hold "[...]" too
                box=box.SIMPLE_HEAD, title_justify="left", show_edge=False, pad_edge=False)
    for i, header in enumerate(headers):
        out.add_column(header, justify="right" if i in right else "left", overflow="fold")
    for row in rows:
        out.add_row(*(Text("-" if v is None else str(v)) for v in row))  # literal: no rich markup
    return out


def print_table(headers: Sequence[str], rows: Iterable[Sequence], title: str | None = None,
                right: Iterable[int] = (), file=None) -> None:
    console(file).print(table(headers, rows, title, right))


def print_lines(lines: Iterable[str], file=None) -> None:
    out = console(file)
    for line in lines:
        out.print(line, markup=False)


def ratio_cell(estimate, apart: bool | None, apart_word: str = "") -> str:
    """A ratio between runs with its interval (core/stats.py's RatioEstimate); ≈ where the one
    rule (core/stats.distinguishable) calls it noise."""
    return f"{estimate.ratio:.2f}x [{estimate.ci_low:.2f}-{estimate.ci_high:.2f}]" + (apart_word if apart else " ≈")


def noise_line(judged: Sequence[bool], spreads: Sequence[float | None]) -> str:
    """How many ratios between runs are told apart from noise, and each side's yardstick."""
    if not judged:
        return ("no row has rounds on two sides: the ratios carry no interval, and a single run's p50 moves "
                "by tens of percent between runs on a shared machine; bench with --repeat 3")
    return (f"{sum(judged)} of {len(judged)} ratio(s) distinguishable from noise: 95 % bootstrap interval over "
            "both runs' rounds (--repeat) beyond the machines' run-to-run spread ("
            + ", ".join(f"m{i} x{s:.3f}" if s else f"m{i} one round" for i, s in enumerate(spreads))
            + "); ≈ marks the others")

"""The report's table: cells with the text shown and the raw number the HTML sort script uses."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Cell:
    text: str
    sort: str = ""                     # the raw number for the HTML sort script; "" sorts by text


@dataclass
class Table:
    headers: list[str]
    rows: list[list[Cell]]
    sortable: bool = False


def number_or_text(value) -> str:
    """A cell's sort key: the number itself, or "" to sort by the shown text."""
    return repr(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else ""

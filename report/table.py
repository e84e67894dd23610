"""What the templates render as a table: text cells, each with the raw number the HTML sort uses."""

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

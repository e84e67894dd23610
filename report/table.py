"""What a report table is: header (units in it), rows of cells, and what report.html may do with
it (sort by a header, filter rows by some columns). The templates render it; they compute nothing."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

CONTRA = "contra"                      # Cell.mark: this measurement contradicts the claim (red in HTML)
_NUMBER = re.compile(r"^(–|[+\-−]?[\d,]*\.?\d)")   # a number, or the dash standing for a missing one


@dataclass(frozen=True)
class Cell:
    text: str
    sort: str = ""                     # the raw number for the HTML sort script; "" sorts by text
    mark: str = ""                     # a CSS class for the HTML cell (CONTRA)

    @property
    def numeric(self) -> bool:
        """Right-aligned in HTML, like the numbers in a column of figures."""
        return bool(_NUMBER.match(self.text))


@dataclass
class Table:
    headers: list[str]
    rows: list[list[Cell]]
    sortable: bool = False
    filters: dict[str, int] = field(default_factory=dict)   # filter name -> column index (report.html)

    def filter_values(self, row: list[Cell]) -> dict[str, str]:
        return {name: row[i].text for name, i in self.filters.items()}


AGREES = "✓ agrees"


def verdict(contradiction: str | None) -> Cell:
    """The last cell of a note's row: agrees, or what contradicts the claim."""
    return Cell(AGREES) if contradiction is None else Cell(f"✗ {contradiction}", mark=CONTRA)


def number_or_text(value) -> str:
    """A cell's sort key: the number itself, or "" to sort by the shown text."""
    return repr(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else ""


# The text of a number in a cell; "–" where it was not measured (or there is nothing to divide).
def kib(size_bytes: int | None) -> str:
    return "–" if not size_bytes else f"{size_bytes / 1024:,.1f}"


def pct(fraction: float | None, digits: int = 1) -> str:
    return "–" if fraction is None else f"{fraction * 100:.{digits}f}"


def times(ratio: float | None, digits: int = 2) -> str:
    return "–" if ratio is None else f"{ratio:.{digits}f}"

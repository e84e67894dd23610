"""The store's tables, derived from the records in convbench/records/store.py: one table per
dataclass, one column per field, SQL types from the field's Python type. Nothing else spells
a column name."""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass

from convbench.core.records.store import StoredMachine, StoredResult, StoredRun

SQL_TYPES = {str: "VARCHAR", int: "BIGINT", float: "DOUBLE", bool: "BOOLEAN"}


@dataclass(frozen=True)
class Table:
    name: str
    record: type
    primary_key: tuple[str, ...]

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(f.name for f in dataclasses.fields(self.record))

    def ddl(self) -> str:
        hints = typing.get_type_hints(self.record)
        cols = [f"{name} {_sql_type(hints[name])}" for name in self.columns]
        key = ", ".join(self.primary_key)
        return f"CREATE TABLE IF NOT EXISTS {self.name} ({', '.join(cols)}, PRIMARY KEY ({key}))"

    def insert_sql(self) -> str:
        return f"INSERT INTO {self.name} ({', '.join(self.columns)}) VALUES ({', '.join('?' * len(self.columns))})"

    def values(self, record) -> tuple:
        return tuple(getattr(record, name) for name in self.columns)

    def select(self) -> str:
        """The table's columns, qualified by its name (for joins)."""
        return ", ".join(f"{self.name}.{c}" for c in self.columns)

    def from_row(self, row: tuple):
        return self.record(**dict(zip(self.columns, row)))


def _sql_type(hint) -> str:
    """`int | None` -> BIGINT (nullable); `int` -> BIGINT NOT NULL."""
    args = typing.get_args(hint)
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        (inner,) = [a for a in args if a is not type(None)]
        return SQL_TYPES[inner]
    return f"{SQL_TYPES[hint]} NOT NULL"


MACHINES = Table("machines", StoredMachine, ("machine_id",))
RUNS = Table("runs", StoredRun, ("run_id",))
RESULTS = Table("results", StoredResult, ("run_id", "row_key"))
TABLES = (MACHINES, RUNS, RESULTS)

"""The results store: one DuckDB file (artifacts/results.duckdb), no server. Every bench run is
written to it after its run folder is published, and `convbench import` brings in run folders
from other machines. A run is stored whole in one transaction or not at all."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path
from collections.abc import Iterator

from convbench.core.errors import UserError
from convbench.core.records import load_run
from convbench.core.records.store import STORE_FILE, STORE_SCHEMA
from convbench.store.rows import run_id, stored_machine, stored_result, stored_run
from convbench.store.schema import MACHINES, RESULTS, RUNS, TABLES

META_DDL = "CREATE TABLE IF NOT EXISTS meta (schema VARCHAR NOT NULL)"


def store_path(artifacts: Path) -> Path:
    """Where `convbench bench --out ARTIFACTS` keeps its store."""
    return Path(artifacts) / STORE_FILE


def check_store(artifacts: Path) -> None:
    """A store already in the artifacts folder that this convbench cannot write (another schema,
    not a store, in use): a UserError now rather than after minutes of measuring."""
    store = store_path(artifacts)
    if store.is_file():
        with connect(store):   # connecting checks the file and its schema
            pass


@contextlib.contextmanager
def connect(path: Path, write: bool = False) -> Iterator:
    """A connection to the store at `path`, its schema checked. Reading a store that does not
    exist, a file that is not a DuckDB database, one of another schema, or one another process
    is writing: a UserError naming the file."""
    import duckdb

    path = Path(path)
    if not write and not path.is_file():
        raise UserError(f"{path}: no results store here; `convbench bench` writes one, "
                        "`convbench import RUN_DIR` fills one from run folders")
    try:
        con = duckdb.connect(str(path), read_only=not write)
    except duckdb.IOException as exc:
        why = "in use by another process" if "lock" in str(exc).lower() else "cannot open it"
        raise UserError(f"{path}: results store {why} ({str(exc).splitlines()[0]})") from None
    except duckdb.Error as exc:
        raise UserError(f"{path}: not a convbench results store ({str(exc).splitlines()[0]})") from None
    try:
        _check_schema(con, path, write)
        yield con
    finally:
        con.close()


def _check_schema(con, path: Path, write: bool) -> None:
    tables = {row[0] for row in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
    if "meta" not in tables:
        if tables or not write:
            raise UserError(f"{path}: a DuckDB file but not a convbench results store (no meta table)")
        con.execute("BEGIN")
        for ddl in (META_DDL, *(t.ddl() for t in TABLES)):
            con.execute(ddl)
        con.execute("INSERT INTO meta VALUES (?)", [STORE_SCHEMA])
        con.execute("COMMIT")
        return
    (schema,) = con.execute("SELECT schema FROM meta").fetchone() or (None,)
    if schema != STORE_SCHEMA:
        raise UserError(f"{path}: results store schema {schema!r}; this convbench reads {STORE_SCHEMA!r} "
                        "(move the file away and `convbench import` the run folders again)")


@dataclass(frozen=True)
class Imported:
    run_id: str
    rows: int
    already_stored: bool
    folder: Path


def import_runs(store: Path, run_dirs: list) -> list[Imported]:
    """Store run folders (or bench.json files). All are read and validated before the store is
    touched (a corrupt or foreign file is a UserError and nothing changes); then their machines,
    runs and results go in one transaction. A run already stored is left as it is."""
    loaded = [load_run(d) for d in run_dirs]
    done: list[Imported] = []
    with connect(store, write=True) as con:
        con.execute("BEGIN")
        try:
            for run in loaded:
                done.append(_insert(con, run))
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
    return done


def _insert(con, run) -> Imported:
    identity = run_id(run)
    if con.execute("SELECT 1 FROM runs WHERE run_id = ?", [identity]).fetchone():
        return Imported(identity, len(run.results), True, run.folder)
    machine = stored_machine(run.record.machine)
    if not con.execute("SELECT 1 FROM machines WHERE machine_id = ?", [machine.machine_id]).fetchone():
        con.execute(MACHINES.insert_sql(), MACHINES.values(machine))
    con.execute(RUNS.insert_sql(), RUNS.values(stored_run(run, identity)))
    con.executemany(RESULTS.insert_sql(), [RESULTS.values(stored_result(identity, r)) for r in run.results])
    return Imported(identity, len(run.results), False, run.folder)

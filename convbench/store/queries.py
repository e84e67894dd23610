"""What `convbench runs`, `history` and `machines` read from the store, as typed records."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from convbench.core.errors import UserError
from convbench.core.stats import RatioEstimate, compare_rounds, run_to_run_spread
from convbench.core.records.store import HISTORY_METRICS, StoredMachine, StoredResult, StoredRun
from convbench.store.schema import MACHINES, RESULTS, RUNS

_RUN_AND_MACHINE = (f"SELECT {RUNS.select()}, {MACHINES.select()} FROM runs "
                    "JOIN machines ON runs.machine_id = machines.machine_id")


def _split(row: tuple) -> tuple[StoredRun, StoredMachine]:
    n = len(RUNS.columns)
    return RUNS.from_row(row[:n]), MACHINES.from_row(row[n:])


def list_runs(con) -> list[tuple[StoredRun, StoredMachine]]:
    """Every stored run with its machine, oldest first."""
    return [_split(r) for r in con.execute(f"{_RUN_AND_MACHINE} ORDER BY runs.started, runs.run_id").fetchall()]


def _where(filters: dict) -> tuple[str, list]:
    """`results.col = ?` for each filter that is set (names are the results table's columns)."""
    unknown = set(filters) - set(RESULTS.columns)
    assert not unknown, unknown  # a programming error, not a user's
    clauses = [(f"results.{k} = ?", v) for k, v in filters.items() if v is not None]
    return " AND ".join(["TRUE", *(c for c, _ in clauses)]), [v for _, v in clauses]


def run_spreads(con, run_ids) -> dict[str, float | None]:
    """Each run's run-to-run spread over all its latency rows (core/stats.py; None: one round)."""
    ids = list(dict.fromkeys(run_ids))
    rounds: dict[str, list[list[float]]] = {i: [] for i in ids}
    if ids:
        for run_id, record in con.execute("SELECT run_id, record FROM results WHERE kind = 'latency' AND run_id IN "
                                          f"({', '.join('?' * len(ids))})", ids).fetchall():
            rounds[run_id].append(json.loads(record).get("repeat_p50_ms") or [])
    return {i: run_to_run_spread(r) for i, r in rounds.items()}


@dataclass(frozen=True)
class Step:
    """A history point against the previous run of the same row: the ratio of their round p50s
    with its interval, and whether it is beyond noise (core/stats.py's one rule)."""

    estimate: RatioEstimate | None     # None: the first point of its row, or a side with one round
    beyond_noise: bool | None


@dataclass
class History:
    metric: str
    machine: StoredMachine
    points: list[tuple[StoredRun, StoredResult]]        # oldest run first
    other_machines: list[StoredMachine] = field(default_factory=list)   # that also have matching rows
    spreads: dict[str, float | None] = field(default_factory=dict)     # run id -> run-to-run spread

    def steps(self) -> list[Step]:
        """Per point: p50 against the previous point of the same row (latency rows benched with --repeat)."""
        previous: dict[str, tuple[StoredRun, StoredResult]] = {}
        out = []
        for run, res in self.points:
            before = previous.get(res.row_key)
            previous[res.row_key] = (run, res)
            if before is None:
                out.append(Step(None, None))
                continue
            out.append(Step(*compare_rounds(before[1].repeat_p50_ms, res.repeat_p50_ms,
                                            self.spreads.get(before[0].run_id), self.spreads.get(run.run_id))))
        return out


def history(con, metric: str, filters: dict, machine: str | None = None) -> History:
    """`metric` of the latency rows matching `filters`, run by run, on one machine: `machine` (an
    id or its prefix), else the machine of the newest matching run."""
    if metric not in HISTORY_METRICS:
        raise UserError(f"metric {metric!r}: expected one of {', '.join(HISTORY_METRICS)}")
    where, params = _where(filters)
    rows = con.execute(f"SELECT {RUNS.select()}, {RESULTS.select()} FROM results "
                       "JOIN runs ON results.run_id = runs.run_id "
                       f"WHERE {where} AND results.{metric} IS NOT NULL ORDER BY runs.started, results.row_key",
                       params).fetchall()
    n = len(RUNS.columns)
    points = [(RUNS.from_row(r[:n]), RESULTS.from_row(r[n:])) for r in rows]
    if not points:
        asked = ", ".join(f"{k}={v}" for k, v in filters.items() if v is not None)
        raise UserError(f"no stored result with {metric} matches {asked}; `convbench runs` lists what is stored")
    machines = {m.machine_id: m for m in (MACHINES.from_row(r) for r in con.execute(
        f"SELECT {MACHINES.select()} FROM machines").fetchall())}
    chosen = _machine(machine, {run.machine_id for run, _ in points}, machines) if machine else points[-1][0].machine_id
    mine = [(run, res) for run, res in points if run.machine_id == chosen]
    return History(metric, machines[chosen], mine,
                   [machines[m] for m in sorted({run.machine_id for run, _ in points} - {chosen})],
                   run_spreads(con, [run.run_id for run, _ in mine]))


def _machine(prefix: str, with_rows: set[str], machines: dict[str, StoredMachine]) -> str:
    hits = [m for m in machines if m.startswith(prefix)]
    if len(hits) != 1:
        raise UserError(f"machine {prefix!r}: {'no' if not hits else 'more than one'} stored machine id starts so; "
                        f"stored: {', '.join(sorted(machines)) or 'none'}")
    if hits[0] not in with_rows:
        raise UserError(f"machine {hits[0]} has no matching result")
    return hits[0]


@dataclass(frozen=True)
class MachineGroup:
    """One runtime and roof precision on side `side` against side 0."""

    runtime: str
    precision: str
    side: int
    rows: int
    median_ratio: float                # p50 on that side / p50 on side 0
    min_ratio: float
    max_ratio: float
    roofs_ratio: float | None          # side 0's roof / that side's: the ratio at unchanged efficiency


@dataclass
class MachineComparison:
    runs: list[tuple[StoredRun, StoredMachine]]         # the first is the reference
    rows: list[list[StoredResult]]                      # per row: one result per run, same artifact file
    other_artifacts: int                                # rows on every side whose files differ
    not_everywhere: int                                 # rows missing on some side
    run_spreads: dict[str, float | None] = field(default_factory=dict)   # run id -> run-to-run spread
    serving: list[list[StoredResult]] = field(default_factory=list)   # Server rows with a max QPS, same files

    def groups(self) -> list[MachineGroup]:
        """The rows by (runtime, roof precision), each other side against the first: how much
        faster or slower, and how much the two machines' roofs alone would predict."""
        from statistics import median

        by: dict[tuple[str, str, int], list[list[StoredResult]]] = {}
        for side in self.rows:
            precision = json.loads(side[0].record).get("roof_precision") or "no roof"
            for i in range(1, len(side)):
                by.setdefault((side[0].runtime or "", precision, i), []).append([side[0], side[i]])
        out = []
        for (runtime, precision, i), pairs in sorted(by.items()):
            ratios = [b.p50_ms / a.p50_ms for a, b in pairs]
            roofs = [a.roof_gflops / b.roof_gflops for a, b in pairs if a.roof_gflops and b.roof_gflops]
            out.append(MachineGroup(runtime, precision, i, len(pairs), median(ratios), min(ratios), max(ratios),
                                    median(roofs) if roofs else None))
        return out

    def spreads(self) -> list[float | None]:
        """Each side's run-to-run spread over the compared rows (None: one round)."""
        return [self.run_spreads.get(run.run_id) for run, _ in self.runs]

    def intervals(self) -> list[list[tuple[RatioEstimate | None, bool | None]]]:
        """Per row, per side i >= 1: the ratio to side 0 with its interval over both runs' rounds,
        and whether it is distinguishable from the two machines' run-to-run spread (the one rule,
        core/stats.py); (None, None) where a side ran one round."""
        spreads = self.spreads()
        out = []
        for side in self.rows:
            per = []
            for i in range(1, len(side)):
                per.append(compare_rounds(side[0].repeat_p50_ms, side[i].repeat_p50_ms, spreads[0], spreads[i]))
            out.append(per)
        return out

    @property
    def maybe_same(self) -> list[tuple[int, int]]:
        """Pairs of sides (indices) whose machines may be one machine under two ids: see
        `maybe_same_machine`."""
        machines = [m for _, m in self.runs]
        return [(i, j) for i in range(len(machines)) for j in range(i + 1, len(machines))
                if maybe_same_machine(machines[i], machines[j])]


# What names a machine besides the CPU's family/model/stepping (MachineInfo.fingerprint).
_DESCRIPTION = ("cpu_model", "cpu_flags", "logical_cores", "usable_cores", "physical_cores", "gpu_name",
                "gpu_driver", "os_name")


def maybe_same_machine(a: StoredMachine, b: StoredMachine) -> bool:
    """Two machine ids that may be one machine: everything recorded is alike, but one run was
    recorded before convbench read the CPU's family/model/stepping, so its id hashes the flags
    instead. Neither can be told apart nor merged honestly; the reader is told."""
    return (a.machine_id != b.machine_id and (a.cpu_id is None) != (b.cpu_id is None)
            and round(a.ram_gib) == round(b.ram_gib) and all(getattr(a, f) == getattr(b, f) for f in _DESCRIPTION))


def compare_machines(con, run_ids: list[str], filters: dict) -> MachineComparison:
    """The same latency rows of the same artifact files (by sha256) across runs: the newest run
    of each stored machine, or the runs named (ids or prefixes; the first is the reference)."""
    stored = list_runs(con)
    if run_ids:
        runs = [_run(prefix, stored) for prefix in run_ids]
    else:
        newest = {machine.machine_id: (run, machine) for run, machine in stored}  # oldest first: last wins
        runs = sorted(newest.values(), key=lambda rm: rm[0].started)
    if len(runs) < 2:
        raise UserError(f"the store holds runs of {len(runs)} machine(s); import a run folder made on another "
                        "machine (`convbench import RUN_DIR`) or name two runs with --runs")
    by_run = _rows_by_run(con, runs, {**filters, "kind": "latency"})
    keys = sorted(set().union(*by_run))
    everywhere = [k for k in keys if all(k in side for side in by_run)]
    same = [k for k in everywhere if len({side[k].artifact_sha256 for side in by_run}) == 1]
    serving = _rows_by_run(con, runs, {**filters, "kind": "scenario"}, "results.server_max_qps IS NOT NULL")
    serving_keys = sorted(k for k in set().union(*serving) if all(k in side for side in serving)
                          and len({side[k].artifact_sha256 for side in serving}) == 1)
    return MachineComparison(runs, [[side[k] for side in by_run] for k in same], len(everywhere) - len(same),
                             len(keys) - len(everywhere),
                             serving=[[side[k] for side in serving] for k in serving_keys],
                             run_spreads=run_spreads(con, [run.run_id for run, _ in runs]))


def _rows_by_run(con, runs, filters: dict, extra: str = "TRUE") -> list[dict[str, StoredResult]]:
    """Per run, its results matching `filters` (and the SQL condition `extra`) by row key."""
    where, params = _where(filters)
    by_run = []
    for run, _ in runs:
        rows = con.execute(f"SELECT {RESULTS.select()} FROM results WHERE {where} AND {extra} AND results.run_id = ?",
                           [*params, run.run_id]).fetchall()
        by_run.append({r.row_key: r for r in map(RESULTS.from_row, rows)})
    return by_run


def _run(prefix: str, stored: list[tuple[StoredRun, StoredMachine]]) -> tuple[StoredRun, StoredMachine]:
    hits = [rm for rm in stored if rm[0].run_id.startswith(prefix)]
    if len(hits) != 1:
        raise UserError(f"run {prefix!r}: {'no' if not hits else 'more than one'} stored run id starts so; "
                        "`convbench runs` lists them")
    return hits[0]

"""The cross-machine report's model: which hardware to deploy on. Per latency row (the same
file on every machine) its p50 on each machine, the ratio to a reference machine and each
machine's efficiency against its own roofs; per machine and artifact the best measured
throughput (the Server scenario's highest VALID load within its p99 bound where that suite ran,
else the best batch's items/s: each figure says which) and, where the machine type has a price,
the cost per million inferences; per model the cheapest (machine, variant) and the fastest one
within the accuracy budget. No price: no cost, never an invented one. Where the runs timed their
rows in rounds (--repeat; a fleet does by default), each ratio has an interval over both runs'
rounds and is called distinguishable only beyond the machines' run-to-run spread (core/stats.py's
one rule, as `machines` and `history`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from convbench.core.errors import UserError
from convbench.core.records import BenchRun, LatencyResult, ScenarioResult, load_run, read_record
from convbench.core.records.fleet import FLEET_FILE, FleetNode
from convbench.core.records.identity import RowId
from convbench.core.stats import RatioEstimate, compare_rounds, run_to_run_spread
from convbench.report.rows import accuracy_drop_pp

SECONDS_PER_HOUR = 3600.0


@dataclass(frozen=True)
class Side:
    """One run in the comparison: the machine type it was run on (fleet.json; else its machine
    id), and the price of that type per hour where one was given."""

    label: str
    run: BenchRun
    node: FleetNode | None
    price_usd_per_hour: float | None = None

    @property
    def machine_id(self) -> str:
        return self.run.record.machine.fingerprint

    @property
    def spread(self) -> float | None:
        """This run's run-to-run spread over its latency rows (None: one round)."""
        return run_to_run_spread([r.repeat_p50_ms for r in self.run.latency])


def load_side(run_dir: Path) -> Side:
    run = load_run(run_dir, require_manifest=True)
    fleet = run.folder / FLEET_FILE
    node = read_record(fleet, FleetNode) if fleet.is_file() else None
    label = node.machine_type if node else f"machine-{run.record.machine.fingerprint[:8]}"
    return Side(label, run, node)


@dataclass(frozen=True)
class RowAcross:
    """A latency row with the same artifact file on every machine."""

    row: RowId
    p50_ms: list[float]                # per side
    fraction_of_roof: list[float | None]   # per side: achieved GFLOP/s over that machine's own roof
    rounds_p50_ms: list[list[float]] = field(default_factory=list)   # per side: each round's p50 (--repeat)

    def ratio(self, side: int, reference: int) -> float:
        return self.p50_ms[side] / self.p50_ms[reference]

    def between(self, side: int, reference: int, spreads: list[float | None]
                ) -> tuple[RatioEstimate | None, bool | None]:
        """The ratio over both runs' rounds with its interval, and whether it is beyond both
        machines' run-to-run spread; (None, None) where a side ran one round."""
        if not self.rounds_p50_ms:
            return None, None
        return compare_rounds(self.rounds_p50_ms[reference], self.rounds_p50_ms[side], spreads[reference],
                              spreads[side])


@dataclass(frozen=True)
class Offer:
    """An artifact served by one runtime on one machine, at its best measured throughput."""

    side: int
    model: str
    variant: str
    format: str
    runtime: str
    device: str
    items_per_s: float
    basis: str                         # where the throughput comes from, in words
    accuracy: float | None             # the lowest measured by its latency rows' sessions
    drop_pp: float | None              # fp32 minus that, percentage points
    within_budget: bool
    usd_per_million: float | None      # None: no price for this machine type

    @property
    def what(self) -> str:
        return f"{self.variant}/{self.format} {self.runtime} {self.device}"


@dataclass(frozen=True)
class ModelChoice:
    model: str
    cheapest: Offer | None             # lowest cost per million within the budget (None: no price, or none within)
    fastest: tuple[int, LatencyResult] | None   # (side, batch-1 row): lowest p50 within the budget
    why_no_cheapest: str | None = None
    # Other machines whose fastest such row cannot be told apart from it (the one rule over both
    # runs' rounds); None: a side ran one round, so no machine can be said to be faster.
    not_distinguishable: list[int] | None = field(default_factory=list)


@dataclass
class CrossMachineReport:
    sides: list[Side]
    reference: int
    budget_pp: float
    rows: list[RowAcross]
    offers: list[Offer]
    choices: list[ModelChoice]
    rows_with_other_files: int         # on every machine, but not the same file
    rows_not_everywhere: int
    same_machine: list[tuple[int, int]] = field(default_factory=list)   # sides with one machine fingerprint

    @property
    def priced(self) -> bool:
        return any(s.price_usd_per_hour is not None for s in self.sides)

    @property
    def spreads(self) -> list[float | None]:
        return [s.spread for s in self.sides]

    def intervals(self) -> list[list[tuple[RatioEstimate | None, bool | None]]]:
        """Per row, per side other than the reference (in side order): `RowAcross.between`."""
        spreads = self.spreads
        return [[r.between(i, self.reference, spreads) for i in range(len(self.sides)) if i != self.reference]
                for r in self.rows]


def usd_per_million(price_usd_per_hour: float, items_per_s: float) -> float:
    return price_usd_per_hour / SECONDS_PER_HOUR / items_per_s * 1e6


def parse_prices(values: list[str]) -> dict[str, float]:
    """TYPE=USD_PER_HOUR pairs; a bad one is a UserError naming it."""
    prices: dict[str, float] = {}
    for text in values:
        name, sep, value = text.partition("=")
        try:
            usd = float(value)
        except ValueError:
            usd = float("nan")
        if not sep or not name or not usd > 0 or usd == float("inf"):
            raise UserError(f"--price {text!r}: expected MACHINE_TYPE=USD_PER_HOUR with a price > 0, e.g. c7i=0.36")
        prices[name] = usd
    return prices


def build(sides: list[Side], prices: dict[str, float], reference: str | None, budget_pp: float) -> CrossMachineReport:
    if len(sides) < 2:
        raise UserError("a cross-machine report needs at least two runs")
    labels = [s.label for s in sides]
    unknown = sorted(set(prices) - set(labels))
    if unknown:
        raise UserError(f"--price for {', '.join(map(repr, unknown))}: no such machine type among the runs "
                        f"({', '.join(labels)})")
    if reference is not None and reference not in labels:
        raise UserError(f"--reference {reference!r}: no such machine type among the runs ({', '.join(labels)})")
    sides = [Side(s.label, s.run, s.node, prices.get(s.label)) for s in sides]
    ref = labels.index(reference) if reference else 0
    rows, other_files, not_everywhere = _rows(sides)
    offers = [o for i, s in enumerate(sides) for o in _offers(i, s, budget_pp)]
    models = sorted({o.model for o in offers})
    choices = [_choice(m, sides, offers, budget_pp) for m in models]
    same = [(i, j) for i in range(len(sides)) for j in range(i + 1, len(sides))
            if sides[i].machine_id == sides[j].machine_id]
    return CrossMachineReport(sides, ref, budget_pp, rows, offers, choices, other_files, not_everywhere, same)


def _rows(sides: list[Side]) -> tuple[list[RowAcross], int, int]:
    by_side = [{r.key: r for r in s.run.latency} for s in sides]
    keys = sorted(set().union(*by_side), key=RowId.sort_key)
    everywhere = [k for k in keys if all(k in side for side in by_side)]
    same = [k for k in everywhere if len({side[k].sha256 for side in by_side}) == 1]
    rows = [RowAcross(k, [side[k].stats.p50_ms for side in by_side], [side[k].fraction_of_roof for side in by_side],
                      [side[k].repeat_p50_ms for side in by_side]) for k in same]
    return rows, len(everywhere) - len(same), len(keys) - len(everywhere)


def _offers(index: int, side: Side, budget_pp: float) -> list[Offer]:
    """Per (model, variant, format, runtime, device) on one machine: its best measured throughput."""
    from convbench.core.runtimes import RUNTIMES
    from convbench.core.runtimes.null import NullRuntime

    run = side.run
    groups: dict[tuple, list] = {}
    for r in run.results:
        # The null runtime times the harness alone: nothing a machine could be bought to serve.
        if isinstance(RUNTIMES.get(r.runtime), NullRuntime) if hasattr(r, "runtime") else True:
            continue
        if isinstance(r, (LatencyResult, ScenarioResult)) and r.kind in ("latency", "scenario"):
            groups.setdefault((r.model, r.variant, r.format, r.runtime, r.device), []).append(r)
    offers = []
    for (model, variant, fmt, runtime, device), results in sorted(groups.items()):
        latency = [r for r in results if isinstance(r, LatencyResult)]
        server = [r for r in results if isinstance(r, ScenarioResult) and r.scenario == "server"
                  and r.valid and r.max_qps]
        if server:
            best = max(server, key=lambda r: r.max_qps)
            items, basis = best.max_qps, (f"Server max QPS within p99 {best.slo_ms:g} ms "
                                          f"(LoadGen, {best.sut} SUT, {best.workers} worker(s))")
        elif latency:
            best = max(latency, key=lambda r: r.stats.throughput_items_per_s)
            items, basis = (best.stats.throughput_items_per_s,
                            f"best batch's items/s (b{best.batch} t{best.threads_label}, 1 process)")
        else:
            continue
        measured = [r.accuracy for r in latency if r.accuracy is not None]
        fp32 = run.fp32_accuracy(model)
        accuracy = min(measured) if measured else None
        drop = accuracy_drop_pp(fp32, accuracy) if accuracy is not None and fp32 is not None else None
        cost = usd_per_million(side.price_usd_per_hour, items) if side.price_usd_per_hour is not None else None
        offers.append(Offer(index, model, variant, fmt, runtime, device, items, basis, accuracy, drop,
                            drop is not None and drop <= budget_pp, cost))
    return offers


def _choice(model: str, sides: list[Side], offers: list[Offer], budget_pp: float) -> ModelChoice:
    mine = [o for o in offers if o.model == model and o.within_budget]
    priced = [o for o in mine if o.usd_per_million is not None]
    cheapest = min(priced, key=lambda o: (o.usd_per_million, o.side, o.what), default=None)
    why = None
    if cheapest is None:
        why = ("no price given (--price TYPE=USD_PER_HOUR)" if not any(o.usd_per_million is not None for o in offers)
               else f"no priced row with measured accuracy within {budget_pp:g} pp of fp32")
    batch1 = []
    for i, s in enumerate(sides):
        fp32 = s.run.fp32_accuracy(model)
        batch1 += [(i, r) for r in s.run.latency if r.model == model and r.batch == 1 and r.accuracy is not None
                   and fp32 is not None and accuracy_drop_pp(fp32, r.accuracy) <= budget_pp]
    fastest = min(batch1, key=lambda ir: (ir[1].stats.p50_ms, ir[0], ir[1].label), default=None)
    return ModelChoice(model, cheapest, fastest, why, _not_told_apart(fastest, batch1, sides))


def _not_told_apart(fastest, batch1, sides: list[Side]) -> list[int] | None:
    """The other machines whose own fastest row is within noise of the fastest (their rounds'
    ratio not distinguishable beyond both machines' run-to-run spreads); None without rounds."""
    if fastest is None:
        return []
    side, row = fastest
    out = []
    for other in range(len(sides)):
        theirs = [r for i, r in batch1 if i == other]
        if other == side or not theirs:
            continue
        best = min(theirs, key=lambda r: r.stats.p50_ms)
        _, told = compare_rounds(row.repeat_p50_ms, best.repeat_p50_ms, sides[side].spread, sides[other].spread)
        if told is None:
            return None
        if not told:
            out.append(other)
    return out

"""The gate's between-runs mode (`convbench compare BASE_RUN NEW_RUN`): two runs timed at
different times. Flags accuracy drops beyond a budget (per model, variant, format, runtime,
device and threads: each row measures its own accuracy) and latency regressions beyond a
threshold *and* beyond measured noise (a one-sided Mann-Whitney U test on the raw per-round
samples); exit status 1 on any regression.

    from convbench.gate.between_runs import compare_runs
    from convbench.gate.printer import format_table
    print(format_table(compare_runs("artifacts/runs/A", "artifacts/runs/B")))
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from pathlib import Path

from convbench.core.records import LatencyResult, load_run
from convbench.core.records.gate import IMPROVED, NOISE, OK, REGRESSION
from convbench.core.records.identity import RowId
from convbench.core.stats import (RatioEstimate, between_runs_ratio, distinguishable, mann_whitney_p, max_spread,
                                  run_to_run_spread)
from convbench.gate import checks
from convbench.report.rows import accuracy_drop_pp

DEFAULT_THRESHOLD_PCT = 10.0     # between runs (the interleaved mode's: interleaved.py)
MIN_SAMPLES = 5  # below this on either side the U test has no power: threshold alone decides
TEST_NAME = "one-sided Mann-Whitney U"


@dataclass(frozen=True)
class Side:
    """One run, reduced to what the gate compares."""

    path: Path
    latency: dict[RowId, list[float]]    # row -> raw per-round seconds
    accuracy: dict[RowId, float]         # row at any batch (one session) -> held-out accuracy, 0..1
    unmeasured: dict[RowId, str]         # row at any batch -> why no row of it measured accuracy
    rounds: dict[RowId, list[float]]     # row -> each round's p50 in ms (--repeat); absent: one round
    spread: float | None                 # the run's run-to-run spread (stats.run_to_run_spread)
    machine_id: str                      # MachineInfo.fingerprint: the model name alone ("AMD EPYC") can hide two CPUs
    machine: str                         # how it reads
    dataset_fingerprint: str


@dataclass(frozen=True)
class LatencyRow:
    key: RowId
    base_p50_ms: float
    new_p50_ms: float
    change_pct: float
    p_value: float | None  # None: too few samples for the test
    verdict: str
    n_base: int
    n_new: int
    interval: RatioEstimate | None = None   # new/base from the runs' rounds (--repeat on both sides)
    distinguishable: bool | None = None     # stats.distinguishable; None: no interval

    @property
    def few_samples(self) -> bool:
        return self.p_value is None and self.interval is None


@dataclass(frozen=True)
class AccuracyRow:
    key: RowId
    base_accuracy: float
    new_accuracy: float
    drop_pp: float  # positive: new is worse
    verdict: str


@dataclass
class Comparison:
    baseline: Path
    new: Path
    max_accuracy_drop_pp: float
    max_latency_regression_pct: float
    alpha: float
    rows: list[LatencyRow] = field(default_factory=list)
    accuracy_rows: list[AccuracyRow] = field(default_factory=list)
    only_in_baseline: list[str] = field(default_factory=list)
    only_in_new: list[str] = field(default_factory=list)
    accuracy_not_measured: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    spread: float | None = None   # the larger run-to-run spread of the two runs (None: no rounds)

    @property
    def regressions(self) -> list[LatencyRow | AccuracyRow]:
        return [r for r in [*self.rows, *self.accuracy_rows] if r.verdict == REGRESSION]

    @property
    def exit_code(self) -> int:
        return 1 if self.regressions else 0


# ---- reading -----------------------------------------------------------------------------

def read_side(path: str | Path) -> Side:
    """One run through the one loader (which validates timings and accuracies); a missing,
    foreign or corrupt file is a UserError naming it."""
    run = load_run(path)
    latency: dict[RowId, list[float]] = {}
    rounds: dict[RowId, list[float]] = {}
    measured: dict[RowId, LatencyResult] = {}
    notes: dict[RowId, str] = {}
    # Smallest batch first: where one session measured accuracy at several batches, that row's counts.
    for row in sorted(run.latency, key=lambda r: r.batch):
        latency[row.key] = run.samples_s[row.key]
        if len(row.repeat_p50_ms) >= 2:
            rounds[row.key] = row.repeat_p50_ms
        # Accuracy is measured by a row's own session: one value per runtime, device and threads.
        if row.accuracy is None:
            notes.setdefault(row.key.any_batch(), row.accuracy_note or "no reason recorded")
        else:
            measured.setdefault(row.key.any_batch(), row)
    m = run.record.machine
    return Side(path=run.bench_path, latency=latency, accuracy={k: r.accuracy for k, r in measured.items()},
                unmeasured={k: why for k, why in notes.items() if k not in measured}, rounds=rounds,
                spread=run_to_run_spread(rounds.values()),
                machine_id=m.fingerprint, machine=f"{m.cpu_name}, {m.usable_cores} cores, GPU {m.gpu_name or 'none'}",
                dataset_fingerprint=run.record.dataset_fingerprint)


# ---- comparing ---------------------------------------------------------------------------

def u_test_can_reach(n_base: int, n_new: int, alpha: float) -> bool:
    """Whether the exact U test can reach p < alpha at all with these sample counts
    (the smallest one-sided p is 1 / C(n_base + n_new, n_base))."""
    return min(n_base, n_new) >= MIN_SAMPLES and 1 / math.comb(n_base + n_new, n_base) < alpha


def compare_latency(key: RowId, base: list[float], new: list[float], threshold_pct: float, alpha: float,
                    base_rounds=(), new_rounds=(), spread: float | None = None) -> LatencyRow:
    """With both runs' rounds (--repeat), the interval between runs decides what is noise (the
    samples within one run do not see the next run's neighbours); otherwise the U test on the
    raw samples, which sees only the noise within each run."""
    interval = between_runs_ratio(base_rounds, new_rounds, alpha)
    if interval is not None:
        base_p50, new_p50 = statistics.median(base_rounds) / 1e3, statistics.median(new_rounds) / 1e3
    else:
        base_p50, new_p50 = statistics.median(base), statistics.median(new)
    # Rounded to 1e-9 %: float error must not decide the threshold (1.1 x base is 10.000000000000009 % slower).
    change_pct = round((new_p50 / base_p50 - 1) * 100, 9) if base_p50 > 0 else (0.0 if new_p50 == 0 else math.inf)
    p_value = None
    if interval is None and u_test_can_reach(len(base), len(new), alpha):
        p_value = mann_whitney_p(new, base) if change_pct >= 0 else mann_whitney_p(base, new)
    told_apart = distinguishable(interval, spread)
    if abs(change_pct) <= threshold_pct:
        verdict = OK
    elif told_apart is False or (interval is None and p_value is not None and p_value >= alpha):
        verdict = NOISE  # beyond the threshold, but within what the runs' spread explains
    else:
        verdict = REGRESSION if change_pct > 0 else IMPROVED
    return LatencyRow(key, base_p50 * 1e3, new_p50 * 1e3, change_pct, p_value, verdict, len(base), len(new),
                      interval, told_apart)


def compare_runs(baseline_path: str | Path, new_path: str | Path, max_accuracy_drop_pp: float = 1.0,
                 max_latency_regression_pct: float = 10.0, alpha: float = 0.01) -> Comparison:
    """Compare two convbench runs (run folders or bench.json files)."""
    checks.at_least_zero("--max-accuracy-drop", max_accuracy_drop_pp)
    checks.at_least_zero("--max-latency-regression", max_latency_regression_pct)
    checks.alpha(alpha)
    base, new = read_side(baseline_path), read_side(new_path)
    result = Comparison(base.path, new.path, float(max_accuracy_drop_pp),
                        float(max_latency_regression_pct), float(alpha))

    result.spread = max_spread(base.spread, new.spread)
    for key in sorted(base.latency.keys() & new.latency.keys(), key=RowId.sort_key):
        result.rows.append(compare_latency(key, base.latency[key], new.latency[key], max_latency_regression_pct,
                                           alpha, base.rounds.get(key, ()), new.rounds.get(key, ()),
                                           result.spread))
    for key in sorted(base.accuracy.keys() & new.accuracy.keys(), key=RowId.sort_key):
        drop_pp = accuracy_drop_pp(base.accuracy[key], new.accuracy[key])
        verdict = REGRESSION if drop_pp > max_accuracy_drop_pp else (IMPROVED if drop_pp < 0 else OK)
        result.accuracy_rows.append(AccuracyRow(key, base.accuracy[key], new.accuracy[key], drop_pp, verdict))

    for mine, theirs, out in ((base, new, result.only_in_baseline), (new, base, result.only_in_new)):
        out += [k.label for k in sorted(mine.latency.keys() - theirs.latency.keys(), key=RowId.sort_key)]
        # Accuracy is worth its own line only where the other side ran the same session but
        # measured no accuracy; otherwise the latency lines already say it.
        out += [f"accuracy {k.label} (the other run did not measure it: {theirs.unmeasured[k]})"
                for k in sorted(mine.accuracy.keys() & theirs.unmeasured.keys(), key=RowId.sort_key)]
    for key in sorted(base.unmeasured.keys() & new.unmeasured.keys(), key=RowId.sort_key):
        why = {base.unmeasured[key], new.unmeasured[key]}
        result.accuracy_not_measured.append(f"{key.label}: {'; '.join(sorted(why))}")

    if base.machine_id != new.machine_id:
        result.notes.append(f"different machines (baseline: {base.machine}; new: {new.machine}): "
                            "latency changes may be the machine's")
    if base.dataset_fingerprint != new.dataset_fingerprint:
        result.notes.append("different data sets (fingerprints differ): accuracies are not comparable")
    return result

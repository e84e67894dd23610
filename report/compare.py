"""`convbench compare BASELINE NEW`: the regression gate. Flags accuracy drops beyond a budget
and latency regressions beyond a threshold *and* beyond measured noise (a one-sided
Mann-Whitney U test on the raw per-round samples); exit status 1 on any regression.

    from convbench.report.compare import compare_runs, format_table
    print(format_table(compare_runs("artifacts/runs/A", "artifacts/runs/B")))
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from pathlib import Path

from convbench.errors import UserError
from convbench.report.results import load_bench_json

LATENCY_KEY_FIELDS = ("model", "variant", "format", "runtime", "device", "batch", "threads")
ACCURACY_KEY_FIELDS = ("model", "variant", "format")
MIN_SAMPLES = 5  # below this on either side the U test has no power: threshold alone decides
TEST_NAME = "one-sided Mann-Whitney U"

OK, REGRESSION, IMPROVED, NOISE = "ok", "REGRESSION", "improved", "noise"


@dataclass(frozen=True)
class Run:
    """One bench.json, reduced to what the gate compares."""

    path: Path
    latency: dict[tuple, list[float]]  # latency key -> raw per-round seconds
    accuracy: dict[tuple, float]  # (model, variant, format) -> held-out accuracy, 0..1
    machine: str
    dataset_fingerprint: str | None


@dataclass(frozen=True)
class LatencyRow:
    key: tuple
    base_p50_ms: float
    new_p50_ms: float
    change_pct: float
    p_value: float | None  # None: too few samples for the test
    verdict: str
    n_base: int
    n_new: int

    @property
    def few_samples(self) -> bool:
        return self.p_value is None


@dataclass(frozen=True)
class AccuracyRow:
    key: tuple
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
    notes: list[str] = field(default_factory=list)

    @property
    def regressions(self) -> list[LatencyRow | AccuracyRow]:
        return [r for r in [*self.rows, *self.accuracy_rows] if r.verdict == REGRESSION]

    @property
    def exit_code(self) -> int:
        return 1 if self.regressions else 0


# ---- reading -----------------------------------------------------------------------------

def load_run(path: str | Path) -> Run:
    """Read and check one bench.json; a missing, foreign or corrupt file is a UserError naming it."""
    path, doc = load_bench_json(path)
    latency: dict[tuple, list[float]] = {}
    accuracy: dict[tuple, float] = {}
    for i, bench in enumerate(doc["benchmarks"]):
        name, info = bench.get("name", f"#{i}"), bench["extra_info"]   # shapes checked by load_bench_json
        if info["kind"] != "latency":
            continue
        missing = [f for f in LATENCY_KEY_FIELDS if f not in info]
        if missing:
            raise UserError(f"{path}: latency benchmark {name!r} lacks {', '.join(missing)} in extra_info")
        key = tuple(info[f] for f in LATENCY_KEY_FIELDS)
        if key in latency:
            raise UserError(f"{path}: latency row {format_key(key)} appears twice")
        latency[key] = _samples(path, name, bench.get("stats"))
        acc = info.get("accuracy")
        if acc is not None:
            if not isinstance(acc, (int, float)) or not 0.0 <= acc <= 1.0:
                raise UserError(f"{path}: benchmark {name!r} has accuracy {acc!r}; expected a fraction 0..1")
            accuracy.setdefault(key[:len(ACCURACY_KEY_FIELDS)], float(acc))

    meta = doc.get("convbench") if isinstance(doc.get("convbench"), dict) else {}
    return Run(path=path, latency=latency, accuracy=accuracy, machine=_machine(doc, meta),
               dataset_fingerprint=(meta.get("dataset") or {}).get("fingerprint"))


def _samples(path: Path, name: str, stats) -> list[float]:
    """Raw per-round seconds; a file saved without them keeps only its median (one sample)."""
    if not isinstance(stats, dict):
        raise UserError(f"{path}: benchmark {name!r} has no stats")
    data = stats.get("data")
    if data is None:
        data = [stats.get("median")]
    if (not isinstance(data, list) or not data
            or not all(isinstance(x, (int, float)) and math.isfinite(x) and x >= 0 for x in data)):
        raise UserError(f"{path}: benchmark {name!r} has no valid timings in stats")
    return [float(x) for x in data]


def _machine(doc: dict, meta: dict) -> str:
    m = meta.get("machine") or {}
    if m.get("cpu_model"):
        return f"{m['cpu_model']}, {m.get('usable_cores', '?')} cores, GPU {m.get('gpu_name') or 'none'}"
    cpu = (doc.get("machine_info") or {}).get("cpu") or {}
    return str(cpu.get("brand_raw") or (doc.get("machine_info") or {}).get("node") or "unknown")


# ---- comparing ---------------------------------------------------------------------------

def mann_whitney_p(slower: list[float], faster: list[float]) -> float:
    """P-value of the one-sided Mann-Whitney U test that `slower` tends to be larger."""
    from scipy.stats import mannwhitneyu  # lazy: keeps `convbench --help` fast

    if min(slower) == max(slower) == min(faster) == max(faster):
        return 1.0  # all equal: scipy would warn and return nan
    return float(mannwhitneyu(slower, faster, alternative="greater").pvalue)


def u_test_can_reach(n_base: int, n_new: int, alpha: float) -> bool:
    """Whether the exact U test can reach p < alpha at all with these sample counts
    (the smallest one-sided p is 1 / C(n_base + n_new, n_base))."""
    return min(n_base, n_new) >= MIN_SAMPLES and 1 / math.comb(n_base + n_new, n_base) < alpha


def compare_latency(key: tuple, base: list[float], new: list[float],
                    threshold_pct: float, alpha: float) -> LatencyRow:
    base_p50, new_p50 = statistics.median(base), statistics.median(new)
    change_pct = (new_p50 / base_p50 - 1) * 100 if base_p50 > 0 else (0.0 if new_p50 == 0 else math.inf)
    p_value = None
    if u_test_can_reach(len(base), len(new), alpha):
        p_value = mann_whitney_p(new, base) if change_pct >= 0 else mann_whitney_p(base, new)
    if abs(change_pct) <= threshold_pct:
        verdict = OK
    elif p_value is not None and p_value >= alpha:
        verdict = NOISE  # beyond the threshold, but within what the samples' spread explains
    else:
        verdict = REGRESSION if change_pct > 0 else IMPROVED
    return LatencyRow(key, base_p50 * 1e3, new_p50 * 1e3, change_pct, p_value, verdict, len(base), len(new))


def compare_runs(baseline_path: str | Path, new_path: str | Path, max_accuracy_drop_pp: float = 1.0,
                 max_latency_regression_pct: float = 10.0, alpha: float = 0.01) -> Comparison:
    """Compare two convbench runs (run folders or bench.json files)."""
    for what, value in (("--max-accuracy-drop", max_accuracy_drop_pp),
                        ("--max-latency-regression", max_latency_regression_pct)):
        if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
            raise UserError(f"{what} {value!r}: expected a number >= 0")
    if not (isinstance(alpha, (int, float)) and 0 < alpha < 1):
        raise UserError(f"--alpha {alpha!r}: expected a number between 0 and 1")
    base, new = load_run(baseline_path), load_run(new_path)
    result = Comparison(base.path, new.path, float(max_accuracy_drop_pp),
                        float(max_latency_regression_pct), float(alpha))

    for key in sorted(base.latency.keys() & new.latency.keys(), key=_sort_key):
        result.rows.append(compare_latency(key, base.latency[key], new.latency[key],
                                           max_latency_regression_pct, alpha))
    for key in sorted(base.accuracy.keys() & new.accuracy.keys(), key=_sort_key):
        drop_pp = (base.accuracy[key] - new.accuracy[key]) * 100
        verdict = REGRESSION if drop_pp > max_accuracy_drop_pp + 1e-9 else (IMPROVED if drop_pp < 0 else OK)
        result.accuracy_rows.append(AccuracyRow(key, base.accuracy[key], new.accuracy[key], drop_pp, verdict))

    for mine, theirs, out in ((base, new, result.only_in_baseline), (new, base, result.only_in_new)):
        out += [format_key(k) for k in sorted(mine.latency.keys() - theirs.latency.keys(), key=_sort_key)]
        # Accuracy is worth its own line only where the other side measured the artifact's
        # latency but reported no accuracy; otherwise the latency lines already say it.
        theirs_measured = {k[:len(ACCURACY_KEY_FIELDS)] for k in theirs.latency}
        out += [f"accuracy {format_key(k)}"
                for k in sorted(mine.accuracy.keys() - theirs.accuracy.keys(), key=_sort_key) if k in theirs_measured]

    if base.machine != new.machine:
        result.notes.append(f"different machines (baseline: {base.machine}; new: {new.machine}): "
                            "latency changes may be the machine's")
    if base.dataset_fingerprint and new.dataset_fingerprint and base.dataset_fingerprint != new.dataset_fingerprint:
        result.notes.append("different data sets (fingerprints differ): accuracies are not comparable")
    return result


def _sort_key(key: tuple) -> tuple:
    return tuple(str(v) if not isinstance(v, int) else f"{v:09d}" for v in key)


def format_key(key: tuple) -> str:
    if len(key) == len(ACCURACY_KEY_FIELDS):
        return "/".join(map(str, key))
    model, variant, fmt, runtime, device, batch, threads = key
    return f"{model}/{variant}/{fmt} {runtime} {device} b{batch} t{'-' if threads is None else threads}"


# ---- output ------------------------------------------------------------------------------

def _table(header: list[str], lines: list[list[str]], right: set[int]) -> list[str]:
    widths = [max(len(row[i]) for row in [header, *lines]) for i in range(len(header))]

    def fmt(row):
        return "  ".join(c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths))).rstrip()

    return [fmt(header), fmt(["-" * w for w in widths]), *map(fmt, lines)]


def format_table(c: Comparison) -> str:
    out = [f"baseline: {c.baseline}", f"new:      {c.new}"]
    out += [f"note: {n}" for n in c.notes]
    out += ["", f"latency, median of the raw per-round samples; test: {TEST_NAME} on those samples, alpha {c.alpha:g}",
            f"  REGRESSION = median more than {c.max_latency_regression_pct:g}% slower and p < {c.alpha:g}; "
            f"improved = likewise faster; noise = beyond {c.max_latency_regression_pct:g}% but p >= {c.alpha:g}",
            f"  few samples = under {MIN_SAMPLES} rounds on a side (or too few for p < {c.alpha:g} to be possible): "
            "the threshold alone decides"]
    if c.rows:
        lines = [[format_key(r.key), f"{r.base_p50_ms:.4f}", f"{r.new_p50_ms:.4f}", f"{r.change_pct:+.1f}",
                  "-" if r.p_value is None else f"{r.p_value:.2g}",
                  r.verdict + (" (few samples)" if r.few_samples else ""), f"{r.n_base}/{r.n_new}"]
                 for r in c.rows]
        out += _table(["key", "base p50_ms", "new p50_ms", "change %", "p-value", "verdict", "rounds"],
                      lines, right={1, 2, 3, 4, 6})
    else:
        out.append("(no latency rows on both sides)")

    out += ["", f"accuracy (deployed, held-out): REGRESSION = drop of more than {c.max_accuracy_drop_pp:g} pp"]
    if c.accuracy_rows:
        lines = [[format_key(r.key), f"{r.base_accuracy:.2%}", f"{r.new_accuracy:.2%}",
                  f"{(r.new_accuracy - r.base_accuracy) * 100:+.2f}", r.verdict] for r in c.accuracy_rows]
        out += _table(["model/variant/format", "base", "new", "change pp", "verdict"], lines, right={1, 2, 3})
    else:
        out.append("(no accuracy on both sides)")

    for title, keys in (("only in baseline", c.only_in_baseline), ("only in new", c.only_in_new)):
        if keys:
            out += ["", f"{title} ({len(keys)}, not compared):", *(f"  {k}" for k in keys)]

    lat = [r for r in c.rows if r.verdict == REGRESSION]
    acc = [r for r in c.accuracy_rows if r.verdict == REGRESSION]
    improved = sum(r.verdict == IMPROVED for r in c.rows)
    noise = sum(r.verdict == NOISE for r in c.rows)
    one_sided = len(c.only_in_baseline) + len(c.only_in_new)
    out += ["", f"{len(lat)} latency and {len(acc)} accuracy regression(s); {improved} latency improvement(s); "
                f"{noise} change(s) within noise; {one_sided} row(s) on one side only"]
    for r in c.regressions:
        what = (f"latency {r.change_pct:+.1f}%" if isinstance(r, LatencyRow) else f"accuracy -{r.drop_pp:.2f} pp")
        out.append(f"  REGRESSION {format_key(r.key)}: {what}")
    out.append("RESULT: REGRESSION (exit 1)" if c.regressions else "RESULT: ok (exit 0)")
    return "\n".join(out)


# ---- the CLI's entry point ---------------------------------------------------------------

def add_compare_arguments(parser) -> None:
    """The `convbench compare` options, for the CLI's subparser."""
    parser.add_argument("baseline", type=Path, metavar="BASELINE",
                        help="run folder (artifacts/runs/<time>) or bench.json")
    parser.add_argument("new", type=Path, metavar="NEW", help="run folder or bench.json to check against BASELINE")
    parser.add_argument("--max-accuracy-drop", type=float, default=1.0, metavar="PP",
                        help="accuracy budget in percentage points (default 1)")
    parser.add_argument("--max-latency-regression", type=float, default=10.0, metavar="PCT",
                        help="median slowdown threshold in percent (default 10)")
    parser.add_argument("--alpha", type=float, default=0.01,
                        help=f"significance level of the {TEST_NAME} test (default 0.01)")


def main_compare(args) -> int:
    """Print the table; 1 on any regression, 0 otherwise. UserError propagates to the CLI (exit 2)."""
    comparison = compare_runs(args.baseline, args.new, args.max_accuracy_drop, args.max_latency_regression,
                              getattr(args, "alpha", 0.01))
    print(format_table(comparison))
    return comparison.exit_code
